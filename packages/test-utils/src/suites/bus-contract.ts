import { randomUUID } from 'node:crypto';
import type { Bus, BusLink, BusNode, BusStatus, Delivery, HistoryPolicy, Publication } from '@tether/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../wait.js';

/** What a contract run needs: a fresh bus per test, and how to clean up after it. */
export type MakeBus = () => Promise<{ bus: Bus; cleanup?: () => Promise<void> }>;

/** A node that records everything the bus hands it. */
export interface RecordingNode {
  node: BusNode;
  deliveries: Delivery[];
  direct: unknown[];
  statuses: BusStatus[];
}

/**
 * A node whose callbacks only record, for contract and integration tests.
 *
 * @example
 * const a = recordingNode('a');
 * const link = await bus.attach(a.node);
 */
export function recordingNode(nodeId: string = `node-${randomUUID().slice(0, 8)}`): RecordingNode {
  const deliveries: Delivery[] = [];
  const direct: unknown[] = [];
  const statuses: BusStatus[] = [];
  return {
    node: {
      nodeId,
      onRoomMessage: (delivery) => deliveries.push(delivery),
      onNodeMessage: (payload) => direct.push(payload),
      onStatus: (status) => statuses.push(status),
    },
    deliveries,
    direct,
    statuses,
  };
}

/** A room name no other test (or earlier run against the same Redis) uses. */
export const uniqueRoom = (label = 'room') => `${label}:${randomUUID().slice(0, 8)}`;

const HISTORY: HistoryPolicy = { size: 100, ttlMs: 60_000 };
const WAIT = { timeout: 5000 };

/**
 * The behaviour every `Bus` implementation must have (the `Bus` interface of `@tether/server`), as one
 * vitest suite.
 * Timings use the real clock with short TTLs, so expiry is tested as it really happens.
 *
 * @example
 * busContract('MemoryBus', async () => ({ bus: new MemoryBus() }));
 */
export function busContract(name: string, makeBus: MakeBus): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    let cleanup: (() => Promise<void>) | undefined;
    const links: BusLink[] = [];

    beforeEach(async () => {
      ({ bus, cleanup } = await makeBus());
    });

    afterEach(async () => {
      for (const link of links.splice(0)) await link.detach();
      await bus.close();
      await cleanup?.();
    });

    const attach = async (nodeId?: string) => {
      const recorder = recordingNode(nodeId);
      const link = await bus.attach(recorder.node);
      links.push(link);
      return { ...recorder, link };
    };

    const publish = (room: string, event: string, data: unknown, extra: Partial<Publication> = {}) =>
      bus.publish({ room, event, data, history: HISTORY, ...extra });

    describe('attach', () => {
      it('is up once attached', async () => {
        await attach();
        expect(bus.status).toBe('up');
      });

      it('refuses a node id that is already attached', async () => {
        const a = await attach();
        await expect(bus.attach(recordingNode(a.node.nodeId).node)).rejects.toThrow();
      });
    });

    describe('publish and subscribe', () => {
      it('delivers to subscribed nodes only', async () => {
        const room = uniqueRoom();
        const barrier = uniqueRoom('barrier');
        const a = await attach();
        const b = await attach();
        await a.link.subscribe(room);
        await b.link.subscribe(barrier);
        const result = await publish(room, 'hello', { n: 1 });
        await publish(barrier, 'after', null);
        await waitFor(() => a.deliveries.length === 1 && b.deliveries.length === 1, WAIT);
        expect(a.deliveries[0]).toMatchObject({
          room,
          event: 'hello',
          data: { n: 1 },
          epoch: result.epoch,
          offset: 1,
        });
        expect(result).toEqual({ epoch: a.deliveries[0]!.epoch, offset: 1, duplicate: false });
        // b only ever got the barrier room's message, published after a's.
        expect(b.deliveries.map((d) => d.room)).toEqual([barrier]);
      });

      it('delivers once to every subscribed node', async () => {
        const room = uniqueRoom();
        const a = await attach();
        const b = await attach();
        await a.link.subscribe(room);
        await a.link.subscribe(room); // idempotent
        await b.link.subscribe(room);
        await publish(room, 'e', 1);
        await publish(room, 'e', 2);
        await waitFor(() => a.deliveries.length >= 2 && b.deliveries.length >= 2, WAIT);
        await publish(room, 'e', 3);
        await waitFor(() => a.deliveries.length >= 3 && b.deliveries.length >= 3, WAIT);
        expect(a.deliveries.map((d) => d.data)).toEqual([1, 2, 3]);
        expect(b.deliveries.map((d) => d.data)).toEqual([1, 2, 3]);
      });

      it('stops delivering after unsubscribe and after detach', async () => {
        const room = uniqueRoom();
        const a = await attach();
        const b = await attach();
        const c = await attach();
        for (const n of [a, b, c]) await n.link.subscribe(room);
        await publish(room, 'e', 1);
        await waitFor(() => c.deliveries.length === 1, WAIT);
        await a.link.unsubscribe(room);
        await a.link.unsubscribe(room); // idempotent
        await b.link.detach();
        await publish(room, 'e', 2);
        await waitFor(() => c.deliveries.length === 2, WAIT);
        expect(a.deliveries.map((d) => d.data)).toEqual([1]);
        expect(b.deliveries.map((d) => d.data)).toEqual([1]);
      });

      it('assigns offsets 1, 2, 3... and delivers them in order, even when published concurrently', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        const results = await Promise.all(Array.from({ length: 30 }, (_, i) => publish(room, 'e', i)));
        await waitFor(() => a.deliveries.length === 30, WAIT);
        expect(a.deliveries.map((d) => d.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
        expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(a.deliveries.map((d) => d.offset));
        // Each result names the offset its own message got.
        for (const r of results) expect(a.deliveries[r.offset - 1]!.data).toBe(results.indexOf(r));
      });

      it('passes `except` through to every node', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        await publish(room, 'e', 1, { except: ['conn-1', 'conn-2'] });
        await publish(room, 'e', 2);
        await waitFor(() => a.deliveries.length === 2, WAIT);
        expect(a.deliveries[0]!.except).toEqual(['conn-1', 'conn-2']);
        expect(a.deliveries[1]!.except ?? []).toEqual([]);
      });

      it('copies urgent and conflate to the delivery and to history', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        const r = await publish(room, 'pos', { x: 1 }, { urgent: true, conflate: 'driver-7' });
        await publish(room, 'plain', 2);
        await waitFor(() => a.deliveries.length === 2, WAIT);
        expect(a.deliveries[0]).toMatchObject({ urgent: true, conflate: 'driver-7' });
        expect(a.deliveries[1]!.urgent ?? false).toBe(false);
        expect(a.deliveries[1]!.conflate).toBeUndefined();
        const page = await bus.history(room, { epoch: r.epoch, offset: 0 }, 10);
        expect(page.messages[0]).toMatchObject({ urgent: true, conflate: 'driver-7' });
        expect(page.messages[1]!.conflate).toBeUndefined();
      });

      it('round-trips JSON data of every shape', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        const values = [
          null,
          0,
          -1.5,
          'text with spaces and "quotes"',
          true,
          [1, 'two', null],
          { nested: { deep: ['x'] } },
          'é✓🙂',
        ];
        for (const value of values) await publish(room, 'e', value);
        await waitFor(() => a.deliveries.length === values.length, WAIT);
        expect(a.deliveries.map((d) => d.data)).toEqual(values);
      });
    });

    describe('volatile', () => {
      it('takes no offset of its own and is not stored', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        const first = await publish(room, 'e', 1);
        const vol = await publish(room, 'v', 2, { volatile: true });
        const next = await publish(room, 'e', 3);
        expect(vol).toEqual({ epoch: first.epoch, offset: 1, duplicate: false });
        expect(next.offset).toBe(2);
        await waitFor(() => a.deliveries.length === 3, WAIT);
        expect(a.deliveries[1]).toMatchObject({ event: 'v', offset: 1, volatile: true });
        expect(a.deliveries[0]!.volatile ?? false).toBe(false);
        const page = await bus.history(room, { epoch: first.epoch, offset: 0 }, 10);
        expect(page.messages.map((m) => m.data)).toEqual([1, 3]);
        expect(page.complete).toBe(true);
      });

      it('carries offset 0 in a room that has no durable message yet', async () => {
        const room = uniqueRoom();
        const result = await publish(room, 'v', 1, { volatile: true });
        expect(result.offset).toBe(0);
        const page = await bus.history(room, undefined, 10);
        expect(page).toMatchObject({ epoch: result.epoch, offset: 0 });
      });
    });

    describe('idempotent publish', () => {
      it('drops a second publish with the same id, and accepts it again after the window', async () => {
        const room = uniqueRoom();
        const a = await attach();
        await a.link.subscribe(room);
        const first = await publish(room, 'e', 1, { id: 'evt-1', dedupTtlMs: 300 });
        const again = await publish(room, 'e', 1, { id: 'evt-1', dedupTtlMs: 300 });
        expect(first.duplicate).toBe(false);
        expect(again).toEqual({ epoch: first.epoch, offset: 1, duplicate: true });
        await publish(room, 'e', 2, { id: 'evt-2' });
        await waitFor(() => a.deliveries.length === 2, WAIT);
        expect(a.deliveries.map((d) => d.data)).toEqual([1, 2]);
        const later = await waitFor(async () => {
          const r = await publish(room, 'e', 1, { id: 'evt-1', dedupTtlMs: 300 });
          return r.duplicate ? undefined : r;
        }, WAIT);
        expect(later.offset).toBe(3);
      });
    });

    describe('history', () => {
      it('gives the position without messages when asked without one', async () => {
        const room = uniqueRoom();
        const empty = await bus.history(room, undefined, 10);
        expect(empty).toMatchObject({ offset: 0, messages: [], complete: true });
        const r = await publish(room, 'e', 1);
        // The epoch handed out before the first message stays the room's epoch.
        expect(r.epoch).toBe(empty.epoch);
        expect(await bus.history(room, undefined, 10)).toEqual({
          epoch: r.epoch,
          offset: 1,
          messages: [],
          complete: true,
        });
      });

      it('returns every message after a position, in order, with complete = true', async () => {
        const room = uniqueRoom();
        for (let i = 1; i <= 5; i++) await publish(room, 'e', i, i === 3 ? { except: ['c1'] } : {});
        const { epoch } = await bus.history(room, undefined, 10);
        const page = await bus.history(room, { epoch, offset: 2 }, 10);
        expect(page.complete).toBe(true);
        expect(page.offset).toBe(5);
        expect(page.messages.map((m) => [m.offset, m.data])).toEqual([
          [3, 3],
          [4, 4],
          [5, 5],
        ]);
        expect(page.messages[0]).toMatchObject({ room, event: 'e', epoch, except: ['c1'] });
        const fromStart = await bus.history(room, { epoch, offset: 0 }, 10);
        expect(fromStart.messages).toHaveLength(5);
        expect(fromStart.complete).toBe(true);
      });

      it('is complete and empty when the position is current', async () => {
        const room = uniqueRoom();
        const r = await publish(room, 'e', 1);
        expect(await bus.history(room, r, 10)).toEqual({
          epoch: r.epoch,
          offset: 1,
          messages: [],
          complete: true,
        });
      });

      it('pages with a limit: the oldest `limit` messages, complete = false', async () => {
        const room = uniqueRoom();
        for (let i = 1; i <= 5; i++) await publish(room, 'e', i);
        const { epoch } = await bus.history(room, undefined, 0);
        const page = await bus.history(room, { epoch, offset: 1 }, 2);
        expect(page.messages.map((m) => m.offset)).toEqual([2, 3]);
        expect(page.complete).toBe(false);
        const rest = await bus.history(room, { epoch, offset: 3 }, 2);
        expect(rest.messages.map((m) => m.offset)).toEqual([4, 5]);
        expect(rest.complete).toBe(true);
      });

      it('keeps only the newest `size` messages: older positions are incomplete', async () => {
        const room = uniqueRoom();
        for (let i = 1; i <= 6; i++) await publish(room, 'e', i, { history: { size: 3, ttlMs: 60_000 } });
        const { epoch } = await bus.history(room, undefined, 0);
        const trimmed = await bus.history(room, { epoch, offset: 1 }, 10);
        expect(trimmed.complete).toBe(false);
        expect(trimmed.messages.map((m) => m.offset)).toEqual([4, 5, 6]);
        const kept = await bus.history(room, { epoch, offset: 3 }, 10);
        expect(kept.complete).toBe(true);
        expect(kept.messages.map((m) => m.offset)).toEqual([4, 5, 6]);
      });

      it('keeps at most `maxBytes` of bodies, oldest dropped first, and always the newest message', async () => {
        const room = uniqueRoom();
        const history = { size: 100, ttlMs: 60_000, maxBytes: 3_500 };
        // About 1 030 bytes each as JSON with the event and room: three fit, four do not.
        for (let i = 1; i <= 6; i++) await publish(room, 'e', 'x'.repeat(1_000), { history });
        const { epoch } = await bus.history(room, undefined, 0);
        const trimmed = await bus.history(room, { epoch, offset: 0 }, 10);
        expect(trimmed.complete).toBe(false);
        expect(trimmed.messages.map((m) => m.offset)).toEqual([4, 5, 6]);
        expect((await bus.history(room, { epoch, offset: 3 }, 10)).complete).toBe(true);
        await publish(room, 'e', 'y'.repeat(5_000), { history });
        const big = await bus.history(room, { epoch, offset: 6 }, 10);
        expect(big.complete).toBe(true);
        expect(big.messages.map((m) => m.offset)).toEqual([7]);
      });

      it('loses expired messages: older positions are incomplete', async () => {
        const room = uniqueRoom();
        const r = await publish(room, 'e', 1, { history: { size: 10, ttlMs: 400 } });
        const fresh = await bus.history(room, { epoch: r.epoch, offset: 0 }, 10);
        expect(fresh.complete).toBe(true);
        expect(fresh.messages).toHaveLength(1);
        const expired = await waitFor(async () => {
          const page = await bus.history(room, { epoch: r.epoch, offset: 0 }, 10);
          return page.complete ? undefined : page;
        }, WAIT);
        expect(expired.messages).toEqual([]);
        // The position is still the room's: an up-to-date client misses nothing.
        const current = await bus.history(room, r, 10);
        expect(current).toMatchObject({ epoch: r.epoch, offset: 1, complete: true });
      });

      it('`history: false` advances the offset without storing', async () => {
        const room = uniqueRoom();
        const a = await publish(room, 'e', 1);
        const b = await publish(room, 'e', 2, { history: false });
        const c = await publish(room, 'e', 3);
        expect([a.offset, b.offset, c.offset]).toEqual([1, 2, 3]);
        const before = await bus.history(room, { epoch: a.epoch, offset: 1 }, 10);
        expect(before.complete).toBe(false);
        const after = await bus.history(room, { epoch: a.epoch, offset: 2 }, 10);
        expect(after.complete).toBe(true);
        expect(after.messages.map((m) => m.data)).toEqual([3]);
      });

      it('reports another epoch as incomplete, without messages', async () => {
        const room = uniqueRoom();
        const r = await publish(room, 'e', 1);
        const page = await bus.history(room, { epoch: `not-${r.epoch}`, offset: 1 }, 10);
        expect(page).toEqual({ epoch: r.epoch, offset: 1, messages: [], complete: false });
        const fromZero = await bus.history(room, { epoch: `not-${r.epoch}`, offset: 0 }, 10);
        expect(fromZero.complete).toBe(false);
      });

      it('treats another epoch at offset 0 of an empty room as complete (nothing was missed)', async () => {
        const room = uniqueRoom();
        const page = await bus.history(room, { epoch: 'some-old-epoch', offset: 0 }, 10);
        expect(page).toMatchObject({ offset: 0, messages: [], complete: true });
      });
    });

    describe('values', () => {
      it('gets, sets, overwrites and deletes', async () => {
        const key = uniqueRoom('kv');
        expect(await bus.get(key)).toBeUndefined();
        expect(await bus.set(key, 'a', 60_000)).toBe(true);
        expect(await bus.get(key)).toBe('a');
        expect(await bus.set(key, 'b', 60_000)).toBe(true);
        expect(await bus.get(key)).toBe('b');
        await bus.delete(key);
        expect(await bus.get(key)).toBeUndefined();
        await bus.delete(key); // deleting a missing key is fine
      });

      it('sets with ifAbsent only when the key does not exist', async () => {
        const key = uniqueRoom('kv');
        expect(await bus.set(key, 'first', 60_000, { ifAbsent: true })).toBe(true);
        expect(await bus.set(key, 'second', 60_000, { ifAbsent: true })).toBe(false);
        expect(await bus.get(key)).toBe('first');
      });

      it('expires values after their TTL, which frees the key for ifAbsent', async () => {
        const key = uniqueRoom('kv');
        expect(await bus.set(key, 'short', 400)).toBe(true);
        expect(await bus.set(key, 'other', 400, { ifAbsent: true })).toBe(false);
        await waitFor(async () => (await bus.get(key)) === undefined, WAIT);
        expect(await bus.set(key, 'again', 60_000, { ifAbsent: true })).toBe(true);
        expect(await bus.get(key)).toBe('again');
      });

      it('increments a counter in a fixed window that later increments do not extend', async () => {
        const key = uniqueRoom('counter');
        const started = Date.now();
        expect(await bus.increment(key, 400)).toBe(1);
        expect(await bus.increment(key, 400)).toBe(2);
        expect(await bus.increment(key, 400)).toBe(3);
        // Keep incrementing, 30 ms apart: if each increment extended the window, the counter
        // would never restart.
        const restarted = await waitFor(async () => (await bus.increment(key, 400)) === 1, {
          timeout: 3000,
          interval: 30,
          message: 'the counter never restarted: later increments extend the window',
        });
        expect(restarted).toBe(true);
        expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      });
    });

    describe('presence', () => {
      it('lists members of every node, and removes them one by one', async () => {
        const room = uniqueRoom();
        const a = await attach();
        const b = await attach();
        await bus.addMember(room, a.node.nodeId, { connId: 'c1', data: { name: 'Ann' } });
        await bus.addMember(room, b.node.nodeId, { connId: 'c2', data: null });
        await bus.addMember(uniqueRoom(), b.node.nodeId, { connId: 'c3', data: 1 });
        const byId = (list: Array<{ connId: string }>) =>
          [...list].sort((x, y) => x.connId.localeCompare(y.connId));
        expect(byId(await bus.members(room))).toEqual([
          { connId: 'c1', data: { name: 'Ann' } },
          { connId: 'c2', data: null },
        ]);
        await bus.removeMember(room, 'c1');
        await bus.removeMember(room, 'missing'); // fine
        expect(await bus.members(room)).toEqual([{ connId: 'c2', data: null }]);
        expect(await bus.members(uniqueRoom())).toEqual([]);
      });

      it("drops a node's members when it detaches", async () => {
        const room = uniqueRoom();
        const a = await attach();
        const b = await attach();
        await bus.addMember(room, a.node.nodeId, { connId: 'a1', data: 'a' });
        await bus.addMember(room, b.node.nodeId, { connId: 'b1', data: 'b' });
        await bus.addMember(room, b.node.nodeId, { connId: 'b2', data: 'b' });
        await b.link.detach();
        expect(await bus.members(room)).toEqual([{ connId: 'a1', data: 'a' }]);
      });
    });

    describe('sendToNode', () => {
      it('hands a payload to that node only', async () => {
        const a = await attach();
        const b = await attach();
        await bus.sendToNode(b.node.nodeId, { kind: 'reply', n: [1, 2] });
        await bus.sendToNode(a.node.nodeId, 'second');
        await waitFor(() => b.direct.length === 1 && a.direct.length === 1, WAIT);
        expect(b.direct).toEqual([{ kind: 'reply', n: [1, 2] }]);
        expect(a.direct).toEqual(['second']);
      });

      it('drops a payload for a node that is not attached', async () => {
        await expect(bus.sendToNode('nobody-here', { x: 1 })).resolves.toBeUndefined();
      });
    });
  });
}
