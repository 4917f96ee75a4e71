import type { NotificationMeta, TetherClient, TetherStorage } from '@tether/client';
import { persistTo } from '@tether/client/persistence';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type InboxAckOptions,
  MemoryBus,
  MemoryInbox,
  type OfflineNotification,
  TetherEmitter,
  type TetherServerOptions,
  type UndeliveredNotification,
} from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

/** A MemoryInbox whose acknowledgements can be lost on the way in, to make the server deliver again. */
class LossyInbox extends MemoryInbox {
  dropAcks = false;
  acks = 0;
  override ack(userId: string, ids: readonly string[], options?: InboxAckOptions): Promise<number> {
    this.acks++;
    return this.dropAcks ? Promise.resolve(0) : super.ack(userId, ids, options);
  }
}

function memoryStorage(): TetherStorage {
  const data = new Map<string, string>();
  return {
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

let node: TestNode;
let inbox: LossyInbox;
afterEach(async () => {
  await node?.close();
  await inbox?.close();
});

async function setUp(options: TetherServerOptions = {}): Promise<TestNode> {
  inbox = new LossyInbox({ sweepIntervalMs: 20 });
  node = await startNode({
    authenticate: (_req, auth) => auth as { userId: string },
    inbox,
    notifications: { ackTimeoutMs: 100, offlineAfterMs: 300 },
    ...options,
  });
  return node;
}

function userClient(userId: string, extra: ConstructorParameters<typeof TetherClient>[1] = {}): TetherClient {
  return node.client({ auth: { userId }, ...extra });
}

type Got = Array<[unknown, string | undefined]>;

describe('tether.user(key).emit', () => {
  it('reaches every open connection of the user and no one else; nothing is stored', async () => {
    await setUp();
    const [a1, a2, b] = [userClient('a'), userClient('a'), userClient('b')];
    const got: Record<string, unknown[]> = { a1: [], a2: [], b: [] };
    a1.on('badge', (d) => void got.a1!.push(d));
    a2.on('badge', (d) => void got.a2!.push(d));
    b.on('badge', (d) => void got.b!.push(d));
    await Promise.all([a1, a2, b].map((c) => waitForState(c, 'open')));
    await node.tether.user('a').emit('badge', { n: 1 });
    await node.tether.user('b').emit('badge', 'fence');
    await until(() => got.a1!.length === 1 && got.a2!.length === 1 && got.b!.length === 1);
    expect(got).toEqual({ a1: [{ n: 1 }], a2: [{ n: 1 }], b: ['fence'] });
    expect(await inbox.pending('a')).toEqual([]);
  });
});

describe('tether.user(key).notify', () => {
  it('is stored before it resolves, delivered live with meta, and gone once acknowledged', async () => {
    await setUp();
    const client = userClient('a');
    const got: Array<[unknown, NotificationMeta | undefined]> = [];
    client.on('order:status', (d, meta) => void got.push([d, meta as NotificationMeta]));
    await waitForState(client, 'open');
    const result = await node.tether
      .user('a')
      .notify('order:status', { state: 'picked-up' }, { id: 'evt-1' });
    expect(result).toEqual({ id: 'evt-1', stored: true, replaced: [] });
    await until(() => got.length === 1);
    expect(got[0]).toEqual([{ state: 'picked-up' }, { id: 'evt-1', notification: true }]);
    await until(() => inbox.size.pending === 0, 5_000, 'the ack');
    // The same id again within the dedup window: not stored, not delivered.
    expect(await node.tether.user('a').notify('order:status', {}, { id: 'evt-1' })).toMatchObject({
      stored: false,
    });
  });

  it('keeps notifications for a user who is away and delivers them on connect, once, urgent first', async () => {
    await setUp();
    const user = node.tether.user('a');
    await user.notify('n', 1);
    await user.notify('n', 2);
    await user.notify('n', 'urgent', { urgent: true });
    await user.notify('n', 3);
    const client = userClient('a');
    const got: unknown[] = [];
    client.on('n', (d) => void got.push(d));
    await until(() => got.length === 4);
    await until(() => inbox.size.pending === 0, 5_000, 'the acks');
    expect(got).toEqual(['urgent', 1, 2, 3]);
  });

  it('collapseKey: a newer undelivered notification replaces the older one', async () => {
    await setUp();
    const user = node.tether.user('a');
    await user.notify('status', 'placed', { collapseKey: 'order:1' });
    const second = await user.notify('status', 'picked-up', { collapseKey: 'order:1' });
    expect(second.replaced).toHaveLength(1);
    const client = userClient('a');
    const got: unknown[] = [];
    client.on('status', (d) => void got.push(d));
    await until(() => got.length === 1);
    await until(() => inbox.size.pending === 0, 5_000, 'the ack');
    expect(got).toEqual(['picked-up']);
  });

  it('waits for a listener promise; a rejection means no ack, and the notification comes again', async () => {
    await setUp();
    const client = userClient('a');
    let calls = 0;
    let release: (() => void) | undefined;
    client.on('job', () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('not yet'));
      return new Promise<void>((resolve) => (release = resolve));
    });
    const errors: Error[] = [];
    client.on('error', (err) => void errors.push(err));
    await waitForState(client, 'open');
    await node.tether.user('a').notify('job', {}, { id: 'job-1' });
    await until(() => calls === 2, 5_000, 'the redelivery');
    expect(errors.map((e) => e.message)).toContain('not yet');
    expect(inbox.size.pending).toBe(1); // the second run has not resolved yet
    release!();
    await until(() => inbox.size.pending === 0, 5_000, 'the ack');
    expect(calls).toBe(2);
  });

  it('acknowledges a redelivered id again without calling listeners twice, also after a reload', async () => {
    // Enough attempts that the lost acks below never make a dead letter.
    await setUp({ notifications: { maxAttempts: 100, ackTimeoutMs: 100, offlineAfterMs: 60_000 } });
    const storage = memoryStorage();
    const firstPage = userClient('a', { persistence: persistTo(storage) });
    let calls = 0;
    firstPage.on('mail', () => void calls++);
    await waitForState(firstPage, 'open');
    inbox.dropAcks = true;
    await node.tether.user('a').notify('mail', 'hi', { id: 'mail-1' });
    await until(() => calls === 1);
    // The ack is lost: the server delivers again after ackTimeoutMs, the client acks again.
    const acksBefore = inbox.acks;
    await until(() => inbox.acks >= acksBefore + 2, 5_000, 'a second ack');
    expect(calls).toBe(1);
    firstPage.close();

    const secondPage = userClient('a', { persistence: persistTo(storage) });
    let secondCalls = 0;
    secondPage.on('mail', () => void secondCalls++);
    const acksAtReload = inbox.acks;
    await until(() => inbox.acks > acksAtReload, 5_000, 'an ack from the reloaded page');
    inbox.dropAcks = false;
    await until(() => inbox.size.pending === 0, 5_000, 'the ack that lands');
    expect(secondCalls).toBe(0);
  });

  it('after maxAttempts deliveries without an ack: a dead letter, reported once, listed, and redriven', async () => {
    await setUp({ notifications: { maxAttempts: 3, ackTimeoutMs: 60, offlineAfterMs: 60_000 } });
    const undelivered: UndeliveredNotification[] = [];
    node.tether.on('undelivered', (m) => void undelivered.push(m as UndeliveredNotification));
    const client = userClient('a');
    let fail = true;
    const got: unknown[] = [];
    client.on('error', () => {});
    client.on('invoice', (d) => {
      if (fail) throw new Error('cannot show it');
      got.push(d);
    });
    await waitForState(client, 'open');
    await node.tether.user('a').notify('invoice', { n: 7 }, { id: 'inv-7' });
    await until(() => undelivered.length === 1, 5_000, 'the dead letter');
    expect(undelivered[0]).toEqual({
      reason: 'dead-letter',
      id: 'inv-7',
      userId: 'a',
      event: 'invoice',
      data: { n: 7 },
      attempts: 3,
    });
    const letters = await node.tether.deadLetters.list({ userId: 'a' });
    expect(letters.map((l) => [l.id, l.reason, l.attempts])).toEqual([['inv-7', 'dead-letter', 3]]);

    fail = false;
    expect(await node.tether.deadLetters.redrive('inv-7')).toBe(true);
    await until(() => got.length === 1, 5_000, 'the redriven notification');
    await until(() => inbox.size.pending === 0, 5_000, 'its ack');
    expect(await node.tether.deadLetters.list()).toEqual([]);
    expect(undelivered).toHaveLength(1);
  });

  it('reports an expired notification as undelivered with reason expired', async () => {
    await setUp();
    const undelivered: UndeliveredNotification[] = [];
    node.tether.on('undelivered', (m) => void undelivered.push(m as UndeliveredNotification));
    await node.tether.user('away').notify('promo', { p: 1 }, { id: 'promo-1', ttlMs: 30 });
    await until(() => undelivered.length === 1, 5_000, 'the expiry');
    expect(undelivered[0]).toMatchObject({
      reason: 'expired',
      id: 'promo-1',
      userId: 'away',
      event: 'promo',
    });
  });

  it('fires notification:offline once for a notification nobody acknowledged in time', async () => {
    await setUp();
    const offline: OfflineNotification[] = [];
    node.tether.on('notification:offline', (n) => void offline.push(n));
    await node.tether.user('away').notify('dm', { text: 'hi' }, { id: 'dm-1' });
    await until(() => offline.length === 1, 5_000, 'the offline notice');
    expect(offline[0]).toMatchObject({ userId: 'away', id: 'dm-1', event: 'dm', data: { text: 'hi' } });
    // A fence: a second notification's notice comes after, and the first is not repeated.
    await node.tether.user('away').notify('dm', { text: 'again' }, { id: 'dm-2' });
    await until(() => offline.length === 2, 5_000, 'the second notice');
    expect(offline.map((n) => n.id)).toEqual(['dm-1', 'dm-2']);
  });

  it('reaches a user through a TetherEmitter that shares the bus and the inbox', async () => {
    const bus = new MemoryBus();
    await setUp({ bus });
    const emitter = new TetherEmitter({ bus, inbox, closeBus: false });
    const client = userClient('a');
    const got: Got = [];
    client.on('status', (d, meta) => void got.push([d, meta?.id]));
    client.on('live', (d) => void got.push([d, undefined]));
    await waitForState(client, 'open');
    await emitter.user('a').emit('live', 1);
    await emitter.user('a').notify('status', 2, { id: 's-2' });
    await until(() => got.length === 2);
    expect(got).toEqual([
      [1, undefined],
      [2, 's-2'],
    ]);
    await emitter.close();
    await node.close();
    await bus.close();
  });
});

describe('over the SSE transport', () => {
  it('delivers, acknowledges and disconnects as over WebSocket', async () => {
    await setUp();
    const client = userClient('a', { transports: ['sse'] });
    client.on('error', () => {});
    const got: unknown[] = [];
    client.on('dm', (d) => void got.push(d));
    await waitForState(client, 'open');
    expect(client.transport).toBe('sse');
    await node.tether.user('a').notify('dm', 'over sse', { id: 'sse-1' });
    await until(() => got.length === 1);
    await until(() => inbox.size.pending === 0, 5_000, 'the ack over a POST');
    await node.tether.user('a').disconnect('bye');
    await waitForState(client, 'closed');
    expect(client.lastDisconnect).toEqual({ code: 4410, reason: 'bye', willReconnect: false });
  });
});

describe('tether.user(key).disconnect', () => {
  it('closes every connection of the user with 4410 and the reason; they stay closed', async () => {
    await setUp();
    const [a1, a2, b] = [userClient('a'), userClient('a'), userClient('b')];
    for (const c of [a1, a2, b]) c.on('error', () => {});
    await Promise.all([a1, a2, b].map((c) => waitForState(c, 'open')));
    await node.tether.user('a').disconnect('account closed');
    await Promise.all([waitForState(a1, 'closed'), waitForState(a2, 'closed')]);
    for (const c of [a1, a2])
      expect(c.lastDisconnect).toEqual({ code: 4410, reason: 'account closed', willReconnect: false });
    expect(b.state).toBe('open');
    await until(() => node.tether.connections.size === 1, 5_000, 'the server side of the closes');
  });
});
