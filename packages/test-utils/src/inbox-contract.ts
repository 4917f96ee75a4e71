import { randomUUID } from 'node:crypto';
import type { Inbox, InboxListener, InboxNotification, InboxSubscription } from '@tether/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './wait.js';

/**
 * One store for one contract test. Every inbox it opens must share the store (a second `open()`
 * is a second node) and use `dedupWindowMs` >= 60 s and a sweep interval of at most 100 ms.
 */
export interface InboxStore {
  open(): Promise<Inbox>;
  /** True when notifications survive closing every inbox and opening a new one. */
  durable: boolean;
  /** Drops the store after the test (its inboxes are closed by then). */
  cleanup?(): Promise<void>;
}

/** Makes a fresh store per test. */
export type MakeInboxStore = () => Promise<InboxStore>;

/** A listener that records what the inbox tells it. */
export interface RecordingListener {
  listener: InboxListener;
  stored: string[];
  expired: InboxNotification[];
  errors: Error[];
}

/**
 * A listener whose hooks only record, for contract and integration tests.
 *
 * @example
 * ```ts
 * const rec = recordingListener();
 * await inbox.subscribe(rec.listener);
 * await waitFor(() => rec.stored.includes('42'));
 * ```
 */
export function recordingListener(): RecordingListener {
  const stored: string[] = [];
  const expired: InboxNotification[] = [];
  const errors: Error[] = [];
  return {
    listener: {
      onStored: (userId) => stored.push(userId),
      onExpired: (notes) => expired.push(...notes),
      onError: (error) => errors.push(error),
    },
    stored,
    expired,
    errors,
  };
}

const ids = (notes: readonly { id: string }[]) => notes.map((n) => n.id);
const CLAIM = { maxAttempts: 3, retryAfterMs: 60_000 };

/**
 * The behaviour every `Inbox` implementation must have (see packages/server/src/inbox.ts), as one
 * vitest suite. Expiry is tested with short real TTLs, synchronised on the expiry report.
 *
 * @example
 * ```ts
 * inboxContract('MemoryInbox', async () => {
 *   const inbox = new MemoryInbox({ sweepIntervalMs: 20, dedupWindowMs: 60_000 });
 *   return { open: async () => inbox, durable: false };
 * });
 * ```
 */
export function inboxContract(name: string, makeStore: MakeInboxStore): void {
  describe(`Inbox contract: ${name}`, () => {
    let store: InboxStore;
    let opened: Inbox[];
    let subscriptions: InboxSubscription[];
    let inbox: Inbox;
    let user: string;

    const open = async () => {
      const next = await store.open();
      opened.push(next);
      return next;
    };
    const subscribe = async (target: Inbox) => {
      const rec = recordingListener();
      subscriptions.push(await target.subscribe(rec.listener));
      return rec;
    };

    beforeEach(async () => {
      opened = [];
      subscriptions = [];
      store = await makeStore();
      inbox = await open();
      user = `user-${randomUUID().slice(0, 8)}`;
    });

    afterEach(async () => {
      for (const sub of subscriptions) await sub.unsubscribe().catch(() => undefined);
      for (const each of opened) await each.close();
      await store.cleanup?.();
    });

    describe('notify and pending', () => {
      it('stores a notification with its fields and returns it to pending', async () => {
        const result = await inbox.notify(user, 'order:status', { state: 'picked-up' }, { id: 'n1' });
        expect(result).toEqual({ id: 'n1', stored: true, replaced: [] });
        const [note, ...rest] = await inbox.pending(user);
        expect(rest).toEqual([]);
        expect(note).toMatchObject({
          id: 'n1',
          userId: user,
          event: 'order:status',
          attempts: 0,
          urgent: false,
        });
        expect(note?.data).toEqual({ state: 'picked-up' });
        expect(note?.expiresAt).toBeGreaterThan(note?.createdAt ?? Number.POSITIVE_INFINITY);
        expect(await inbox.pending(`${user}-other`)).toEqual([]);
      });

      it('keeps data as JSON: a later change to the object does not reach the store', async () => {
        const data = { list: [] as number[], nested: { text: 'é ✓' }, empty: {} };
        await inbox.notify(user, 'e', data, { id: `${user}-json` });
        data.list.push(1);
        const [note] = await inbox.pending(user);
        expect(note?.data).toEqual({ list: [], nested: { text: 'é ✓' }, empty: {} });
        await inbox.notify(user, 'e', undefined, { id: `${user}-undefined` });
        expect((await inbox.pending(user))[1]?.data).toBeNull();
      });

      it('gives an id when none is passed', async () => {
        const result = await inbox.notify(user, 'e', 1);
        expect(result.id.length).toBeGreaterThan(0);
        expect(ids(await inbox.pending(user))).toEqual([result.id]);
      });

      it('stores a duplicate id once, also across users and when racing', async () => {
        const id = `dup-${randomUUID()}`;
        expect((await inbox.notify(user, 'e', 1, { id })).stored).toBe(true);
        expect((await inbox.notify(user, 'e', 2, { id })).stored).toBe(false);
        expect((await inbox.notify(`${user}-b`, 'e', 3, { id })).stored).toBe(false);
        const pending = await inbox.pending(user);
        expect(ids(pending)).toEqual([id]);
        expect(pending[0]?.data).toBe(1);

        const raced = `race-${randomUUID()}`;
        const other = await open();
        const results = await Promise.all([
          inbox.notify(user, 'e', 'a', { id: raced }),
          other.notify(user, 'e', 'b', { id: raced }),
          inbox.notify(user, 'e', 'c', { id: raced }),
        ]);
        expect(results.filter((r) => r.stored)).toHaveLength(1);
        expect(ids(await inbox.pending(user))).toEqual([id, raced]);
      });

      it('keeps notify order per user', async () => {
        const sent: string[] = [];
        for (let i = 0; i < 25; i += 1) {
          sent.push(`o${i}`);
          await inbox.notify(user, 'e', i, { id: `${user}-o${i}` });
          if (i % 5 === 0) await inbox.notify(`${user}-x`, 'e', i, { id: `${user}-x${i}` });
        }
        expect(ids(await inbox.pending(user))).toEqual(sent.map((s) => `${user}-${s}`));
        expect(ids(await inbox.pending(user, { limit: 3 }))).toEqual(
          sent.slice(0, 3).map((s) => `${user}-${s}`),
        );
      });

      it('puts urgent notifications first, each class in notify order', async () => {
        await inbox.notify(user, 'e', 0, { id: `${user}-b1` });
        await inbox.notify(user, 'e', 0, { id: `${user}-u1`, urgent: true });
        await inbox.notify(user, 'e', 0, { id: `${user}-b2` });
        await inbox.notify(user, 'e', 0, { id: `${user}-u2`, urgent: true });
        const order = ['u1', 'u2', 'b1', 'b2'].map((s) => `${user}-${s}`);
        expect(ids(await inbox.pending(user))).toEqual(order);
        expect(ids((await inbox.claim(user, CLAIM)).deliver)).toEqual(order);
      });

      it('refuses bad arguments with INBOX_INVALID', async () => {
        await expect(inbox.notify('', 'e', 1)).rejects.toMatchObject({ code: 'INBOX_INVALID' });
        await expect(inbox.notify(user, '', 1)).rejects.toMatchObject({ code: 'INBOX_INVALID' });
        await expect(inbox.notify(user, 'e', 1, { ttlMs: 0 })).rejects.toMatchObject({
          code: 'INBOX_INVALID',
        });
        await expect(inbox.notify(user, 'e', { n: 1n })).rejects.toMatchObject({ code: 'INBOX_INVALID' });
        await expect(inbox.claim(user, { maxAttempts: 0, retryAfterMs: 1 })).rejects.toMatchObject({
          code: 'INBOX_INVALID',
        });
      });
    });

    describe('collapseKey', () => {
      it('replaces an undelivered notification with the same key, not a delivered one', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-a`, collapseKey: 'order:42' });
        await inbox.notify(user, 'e', 0, { id: `${user}-other`, collapseKey: 'order:43' });
        const second = await inbox.notify(user, 'e', 2, { id: `${user}-b`, collapseKey: 'order:42' });
        expect(second).toEqual({ id: `${user}-b`, stored: true, replaced: [`${user}-a`] });
        expect(ids(await inbox.pending(user))).toEqual([`${user}-other`, `${user}-b`]);
        expect((await inbox.pending(user))[1]?.collapseKey).toBe('order:42');

        expect(ids((await inbox.claim(user, CLAIM)).deliver)).toEqual([`${user}-other`, `${user}-b`]);
        const third = await inbox.notify(user, 'e', 3, { id: `${user}-c`, collapseKey: 'order:42' });
        expect(third.replaced).toEqual([]);
        expect(ids(await inbox.pending(user))).toEqual([`${user}-other`, `${user}-b`, `${user}-c`]);
        // The replaced id may be notified again: it was never delivered.
        expect((await inbox.notify(`${user}`, 'e', 4, { id: `${user}-a` })).stored).toBe(true);
      });
    });

    describe('claim and ack', () => {
      it('counts attempts, holds claimed ones until retryAfterMs, and reports retryAt', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-1` });
        const first = await inbox.claim(user, CLAIM);
        expect(ids(first.deliver)).toEqual([`${user}-1`]);
        expect(first.deliver[0]?.attempts).toBe(1);
        expect(first.retryAt).toBeGreaterThan(first.deliver[0]?.createdAt ?? Number.POSITIVE_INFINITY);
        const again = await inbox.claim(user, CLAIM);
        expect(again.deliver).toEqual([]);
        expect(again.retryAt).toBe(first.retryAt);
        expect(first.retryInMs).toBeGreaterThan(0);
        expect(first.retryInMs).toBeLessThanOrEqual(CLAIM.retryAfterMs);
        expect((await inbox.claim(`${user}-none`, CLAIM)).retryInMs).toBeNull();
        // pending still shows it (a newly opened connection gets its backlog) without an attempt.
        expect((await inbox.pending(user))[0]?.attempts).toBe(1);
        await inbox.notify(user, 'e', 2, { id: `${user}-2` });
        expect(ids((await inbox.claim(user, CLAIM)).deliver)).toEqual([`${user}-2`]);
      });

      it('hands each due notification to one of two concurrent claimers', async () => {
        const other = await open();
        for (let i = 0; i < 30; i += 1) await inbox.notify(user, 'e', i, { id: `${user}-${i}` });
        const [a, b] = await Promise.all([inbox.claim(user, CLAIM), other.claim(user, CLAIM)]);
        const all = [...ids(a.deliver), ...ids(b.deliver)].sort();
        expect(all).toEqual(Array.from({ length: 30 }, (_, i) => `${user}-${i}`).sort());
      });

      it('never hands out a notification behind one another claimer holds in flight', async () => {
        for (let i = 1; i <= 3; i += 1) await inbox.notify(user, 'e', i, { id: `${user}-${i}` });
        const a = { ...CLAIM, claimer: 'node-a', limit: 1 };
        const b = { ...CLAIM, claimer: 'node-b' };
        const first = await inbox.claim(user, a);
        expect(ids(first.deliver)).toEqual([`${user}-1`]);
        const blocked = await inbox.claim(user, b);
        expect(blocked.deliver).toEqual([]);
        expect(blocked.retryAt).toBe(first.retryAt);
        // The holder goes on: its own connections keep the order.
        expect(ids((await inbox.claim(user, a)).deliver)).toEqual([`${user}-2`]);
        await inbox.ack(user, [`${user}-1`]);
        expect((await inbox.claim(user, b)).deliver).toEqual([]);
        await inbox.ack(user, [`${user}-2`]);
        expect(ids((await inbox.claim(user, b)).deliver)).toEqual([`${user}-3`]);
      });

      it('lets a newer urgent notification pass a held ordinary one, not a newer ordinary one', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-1` });
        expect(ids((await inbox.claim(user, { ...CLAIM, claimer: 'node-a' })).deliver)).toEqual([
          `${user}-1`,
        ]);
        await inbox.notify(user, 'e', 2, { id: `${user}-2` });
        await inbox.notify(user, 'e', 3, { id: `${user}-u`, urgent: true });
        expect(ids((await inbox.claim(user, { ...CLAIM, claimer: 'node-b' })).deliver)).toEqual([
          `${user}-u`,
        ]);
        expect((await inbox.claim(user, { ...CLAIM, claimer: 'node-b' })).deliver).toEqual([]);
      });

      it('resend takes in-flight notifications over in delivery order without counting an attempt', async () => {
        for (let i = 1; i <= 3; i += 1) await inbox.notify(user, 'e', i, { id: `${user}-${i}` });
        await inbox.claim(user, { ...CLAIM, claimer: 'node-a', limit: 2 });
        const taken = await inbox.claim(user, { ...CLAIM, claimer: 'node-b', resend: true });
        expect(ids(taken.deliver)).toEqual([`${user}-1`, `${user}-2`, `${user}-3`]);
        expect(taken.deliver.map((n) => n.attempts)).toEqual([1, 1, 1]);
        // Now node-b holds them: node-a waits, node-b has nothing due.
        expect((await inbox.claim(user, { ...CLAIM, claimer: 'node-a' })).deliver).toEqual([]);
        expect((await inbox.claim(user, { ...CLAIM, claimer: 'node-b' })).deliver).toEqual([]);
        expect((await inbox.pending(user)).map((n) => n.attempts)).toEqual([1, 1, 1]);
      });

      it("re-sends from the oldest unacknowledged once a lapsed holder's claim is due", async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-1` });
        await inbox.claim(user, { ...CLAIM, claimer: 'node-a', retryAfterMs: 50 });
        await inbox.notify(user, 'e', 2, { id: `${user}-2` });
        const b = { ...CLAIM, claimer: 'node-b' };
        let taken: InboxNotification[] = [];
        await waitFor(async () => (taken = (await inbox.claim(user, b)).deliver).length > 0);
        expect(ids(taken)).toEqual([`${user}-1`, `${user}-2`]);
        expect(taken.map((n) => n.attempts)).toEqual([2, 1]);
      });

      it('refuses an empty claimer with INBOX_INVALID', async () => {
        await expect(inbox.claim(user, { ...CLAIM, claimer: '' })).rejects.toMatchObject({
          code: 'INBOX_INVALID',
        });
      });

      it('acks remove notifications and remember the id within the dedup window', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-1` });
        await inbox.notify(user, 'e', 2, { id: `${user}-2` });
        await inbox.claim(user, CLAIM);
        expect(await inbox.ack(`${user}-someone-else`, [`${user}-1`])).toBe(0);
        expect(await inbox.ack(user, [`${user}-1`, 'unknown'])).toBe(1);
        expect(await inbox.ack(user, [`${user}-1`])).toBe(0);
        expect(ids(await inbox.pending(user))).toEqual([`${user}-2`]);
        expect((await inbox.notify(user, 'e', 1, { id: `${user}-1` })).stored).toBe(false);
        expect(ids(await inbox.pending(user))).toEqual([`${user}-2`]);
        expect(await inbox.ack(user, [])).toBe(0);
      });

      it("remembers an acked id for the caller's dedupWindowMs when given", async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-w` });
        expect(await inbox.ack(user, [`${user}-w`], { dedupWindowMs: 1 })).toBe(1);
        await waitFor(async () => (await inbox.notify(user, 'e', 2, { id: `${user}-w` })).stored);
        expect((await inbox.pending(user))[0]?.data).toBe(2);
      });

      it('turns maxAttempts unacknowledged deliveries into a dead letter, once; lists and redrives it', async () => {
        const options = { maxAttempts: 2, retryAfterMs: 0 };
        await inbox.notify(user, 'order:status', { n: 1 }, { id: `${user}-d`, collapseKey: 'k' });
        await inbox.notify(`${user}-b`, 'e', 0, { id: `${user}-other` });
        expect((await inbox.claim(user, options)).deliver[0]?.attempts).toBe(1);
        expect((await inbox.claim(user, options)).deliver[0]?.attempts).toBe(2);
        const other = await open();
        const [third, racing] = await Promise.all([inbox.claim(user, options), other.claim(user, options)]);
        const dead = [...third.deadLettered, ...racing.deadLettered];
        expect(dead).toHaveLength(1);
        expect([...third.deliver, ...racing.deliver]).toEqual([]);
        expect(dead[0]).toMatchObject({ id: `${user}-d`, userId: user, reason: 'dead-letter', attempts: 2 });
        expect(await inbox.pending(user)).toEqual([]);
        expect((await inbox.notify(user, 'e', 0, { id: `${user}-d` })).stored).toBe(false);

        const listed = await other.deadLetters({ userId: user });
        expect(listed).toHaveLength(1);
        expect(listed[0]).toMatchObject({
          id: `${user}-d`,
          event: 'order:status',
          data: { n: 1 },
          attempts: 2,
        });
        expect(ids(await inbox.deadLetters({ userId: `${user}-b` }))).toEqual([]);
        expect(ids(await inbox.deadLetters({ limit: 10_000 }))).toContain(`${user}-d`);

        const rec = await subscribe(other);
        expect(await inbox.redrive(`${user}-d`)).toBe(true);
        expect(await inbox.redrive(`${user}-d`)).toBe(false);
        await waitFor(() => rec.stored.includes(user));
        const back = await inbox.pending(user);
        expect(back).toHaveLength(1);
        expect(back[0]).toMatchObject({ id: `${user}-d`, attempts: 0, data: { n: 1 } });
        expect(await inbox.deadLetters({ userId: user })).toEqual([]);
        expect(ids((await inbox.claim(user, options)).deliver)).toEqual([`${user}-d`]);
      });
    });

    describe('expiry', () => {
      it('reports an expired notification once, drops it and remembers its id', async () => {
        const a = await subscribe(inbox);
        const other = await open();
        const b = await subscribe(other);
        await inbox.notify(user, 'e', 1, { id: `${user}-short`, ttlMs: 150 });
        await inbox.notify(user, 'e', 2, { id: `${user}-long` });
        await waitFor(() => [...a.expired, ...b.expired].some((n) => n.id === `${user}-short`), {
          timeout: 10_000,
        });
        const reports = [...a.expired, ...b.expired].filter((n) => n.id === `${user}-short`);
        expect(reports).toHaveLength(1);
        expect(reports[0]).toMatchObject({ userId: user, event: 'e', data: 1 });
        expect(ids(await inbox.pending(user))).toEqual([`${user}-long`]);
        expect((await inbox.notify(user, 'e', 1, { id: `${user}-short` })).stored).toBe(false);
      });

      it('does not hand out an expired notification even before the sweep', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-short`, ttlMs: 1 });
        await waitFor(async () => (await inbox.pending(user)).length === 0);
        expect((await inbox.claim(user, CLAIM)).deliver).toEqual([]);
      });
    });

    describe('offline notice', () => {
      it('hands each unacknowledged notification to exactly one of two concurrent claimers', async () => {
        const other = await open();
        for (let i = 0; i < 20; i += 1) await inbox.notify(user, 'e', i, { id: `${user}-${i}` });
        await inbox.ack(user, [`${user}-0`]);
        const [a, b] = await Promise.all([
          inbox.claimOffline(0, { limit: 10_000 }),
          other.claimOffline(0, { limit: 10_000 }),
        ]);
        const mine = [...a, ...b].filter((n) => n.userId === user).map((n) => n.id);
        expect(mine.sort()).toEqual(Array.from({ length: 19 }, (_, i) => `${user}-${i + 1}`).sort());
        expect((await inbox.claimOffline(0, { limit: 10_000 })).filter((n) => n.userId === user)).toEqual([]);
      });

      it('leaves notifications younger than afterMs alone', async () => {
        await inbox.notify(user, 'e', 1, { id: `${user}-young` });
        const claimed = await inbox.claimOffline(3_600_000);
        expect(claimed.filter((n) => n.userId === user)).toEqual([]);
      });
    });

    describe('wakeups', () => {
      it('wakes a listener on another inbox of the same store', async () => {
        const other = await open();
        const rec = await subscribe(other);
        await inbox.notify(user, 'e', 1);
        await waitFor(() => rec.stored.includes(user));
        expect(rec.errors).toEqual([]);
      });

      it('stops waking after unsubscribe', async () => {
        const rec = recordingListener();
        const sub = await inbox.subscribe(rec.listener);
        await inbox.notify(user, 'e', 1);
        await waitFor(() => rec.stored.includes(user));
        await sub.unsubscribe();
        const fence = await subscribe(inbox);
        await inbox.notify(`${user}-2`, 'e', 1);
        await waitFor(() => fence.stored.includes(`${user}-2`));
        expect(rec.stored).not.toContain(`${user}-2`);
      });
    });

    describe('lifecycle', () => {
      it('rejects calls after close with INBOX_CLOSED, and closes twice', async () => {
        const extra = await open();
        await extra.close();
        await extra.close();
        await expect(extra.notify(user, 'e', 1)).rejects.toMatchObject({ code: 'INBOX_CLOSED' });
      });

      it('keeps the backlog, attempts and dead letters across a restart (durable stores)', async (ctx) => {
        if (!store.durable) ctx.skip();
        await inbox.notify(user, 'e', 1, { id: `${user}-1` });
        await inbox.notify(user, 'e', 2, { id: `${user}-2`, urgent: true });
        await inbox.claim(user, { maxAttempts: 1, retryAfterMs: 0 });
        await inbox.claim(user, { maxAttempts: 1, retryAfterMs: 60_000 });
        await inbox.notify(user, 'e', 3, { id: `${user}-3` });
        for (const each of opened.splice(0)) await each.close();
        const reopened = await open();
        expect(ids(await reopened.pending(user))).toEqual([`${user}-3`]);
        expect(ids(await reopened.deadLetters({ userId: user })).sort()).toEqual([`${user}-1`, `${user}-2`]);
        expect((await reopened.notify(user, 'e', 1, { id: `${user}-1` })).stored).toBe(false);
        await reopened.notify(user, 'e', 4, { id: `${user}-4` });
        expect(ids(await reopened.pending(user))).toEqual([`${user}-3`, `${user}-4`]);
      });
    });
  });
}
