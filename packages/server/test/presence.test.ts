import { spawnSync } from 'node:child_process';
import type { PresenceEvent, Room, TetherClient } from '@tether/client';
import { fence, RedisServer, waitFor } from '@tether/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bus,
  type BusLink,
  CloseCode,
  MemoryBus,
  type TetherServer,
  type TetherServerOptions,
} from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

const nodes: TestNode[] = [];
const buses: Bus[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
  for (const bus of buses.splice(0)) await bus.close();
});

/** Options every node in this file shares: clients say who they are, every join is allowed. */
const base: TetherServerOptions = {
  authenticate: (_req, auth) => ({ user: (auth as { user?: string } | undefined)?.user ?? 'anon' }),
  authorizeJoin: () => true,
  presenceEvents: (room) => !room.startsWith('quiet:'),
  // These tests read who is there from the data itself; the default shows nothing of it.
  presenceData: (conn) => conn.data,
};

async function node(options: TetherServerOptions = {}): Promise<TestNode> {
  const started = await startNode({ ...base, ...options });
  nodes.push(started);
  return started;
}

/** A joined member that records every presence change it sees. */
async function member(on: TestNode, user: string, room = 'lobby', reconnect = true) {
  const client = on.client({ auth: { user }, ...(reconnect ? {} : { reconnect: false }) });
  const handle = await client.join(room);
  const changes: PresenceEvent[] = [];
  handle.on('tether:presence', (change) => changes.push(change));
  return { client, room: handle as Room, changes };
}

/** Polls an async condition. */
async function eventually(check: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  await waitFor(check, { timeout, message: `timed out waiting for ${what}` });
}

const ids = (members: Array<{ connId: string }>) => members.map((m) => m.connId).sort();

function connectionOf(tether: TetherServer, client: TetherClient) {
  const conn = tether.connections.get(client.connectionId!);
  if (!conn) throw new Error('no server connection for this client');
  return conn;
}

describe('presence on one bus shared by two nodes', () => {
  it('lists the members of every node, on the server and to members', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    const a = await node({ bus });
    const b = await node({ bus });
    const ada = await member(a, 'ada');
    const bob = await member(b, 'bob');
    const expected = [ada.client.connectionId!, bob.client.connectionId!].sort();
    await eventually(async () => (await a.tether.in('lobby').presence()).length === 2, 2_000, 'two members');
    expect(ids(await a.tether.in('lobby').presence())).toEqual(expected);
    expect(ids(await b.tether.in('lobby').presence())).toEqual(expected);
    const seenByAda = await ada.room.presence();
    expect(ids(seenByAda)).toEqual(expected);
    expect(seenByAda.find((m) => m.connId === bob.client.connectionId)?.data).toEqual({ user: 'bob' });
  });

  it('announces joins and deliberate leaves at once, to the other members only', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    // A grace period far longer than the test: a leave that arrives at all skipped it.
    const a = await node({ bus, presenceGraceMs: 600_000 });
    const b = await node({ bus, presenceGraceMs: 600_000 });
    const ada = await member(a, 'ada');
    const bob = await member(b, 'bob');
    await until(() => ada.changes.length === 1, 2_000, 'join of bob');
    expect(ada.changes[0]).toEqual({
      type: 'join',
      member: { connId: bob.client.connectionId, data: { user: 'bob' } },
    });
    const cid = await member(a, 'cid');
    await until(() => bob.changes.length === 1 && ada.changes.length === 2, 2_000, 'join of cid');
    const cidId = cid.client.connectionId;
    cid.room.leave();
    await until(() => ada.changes.length === 3 && bob.changes.length === 2, 2_000, 'leave of cid');
    expect(bob.changes[1]).toEqual({ type: 'leave', member: { connId: cidId, data: { user: 'cid' } } });
    const bobId = bob.client.connectionId;
    bob.client.close();
    // A deliberate close is not a drop: no grace period (which would hold the leave for 10 min).
    await until(() => ada.changes.length === 4, 20_000, 'leave of bob');
    expect(ada.changes[3]).toMatchObject({ type: 'leave', member: { connId: bobId } });
    expect(cid.changes).toEqual([]);
    // Presence messages are not room history.
    expect((await bus.history('lobby', { epoch: '', offset: 0 }, 100)).messages).toEqual([]);
  });

  it('hides a flapping reconnect within the grace period: no leave, no join', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    const a = await node({ bus, presenceGraceMs: 1_500 });
    const b = await node({ bus, presenceGraceMs: 1_500 });
    const ada = await member(a, 'ada');
    const bob = await member(b, 'bob');
    // A control member on bob's node that is dropped after bob and does not come back.
    const cid = await member(b, 'cid', 'lobby', false);
    await until(() => ada.changes.length === 2, 2_000, 'joins of bob and cid');
    const cidId = cid.client.connectionId!;
    const before = bob.client.connectionId!;
    const rejoined = new Promise((resolve) => bob.room.on('tether:rejoined', resolve));
    connectionOf(b.tether, bob.client).close(CloseCode.InternalError, 'test drop');
    await waitForState(bob.client, 'reconnecting');
    await waitForState(bob.client, 'open');
    await rejoined;
    const after = bob.client.connectionId!;
    expect(after).not.toBe(before);
    connectionOf(b.tether, cid.client).close(CloseCode.InternalError, 'test drop');
    // The control's grace period started after bob's, on the same node and path to ada: once its
    // leave arrives, bob's grace period is over and anything it announced came first.
    await until(() => ada.changes.length === 4, 4_000, 'leave of the control member');
    // Still no leave and no join for bob, only the swap of connection ids.
    expect(ada.changes.slice(2)).toEqual([
      { type: 'reconnect', member: { connId: after, data: { user: 'bob' } }, previousConnId: before },
      { type: 'leave', member: { connId: cidId, data: { user: 'cid' } } },
    ]);
    expect(ids(await a.tether.in('lobby').presence())).toEqual([ada.client.connectionId!, after].sort());
  });

  it('announces the leave of a dropped member that does not come back, after the grace period', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    const a = await node({ bus, presenceGraceMs: 600 });
    const b = await node({ bus, presenceGraceMs: 600 });
    const ada = await member(a, 'ada');
    const bob = await member(b, 'bob', 'lobby', false);
    await until(() => ada.changes.length === 1, 2_000, 'join of bob');
    const bobId = bob.client.connectionId!;
    const dropped = Date.now();
    connectionOf(b.tether, bob.client).close(CloseCode.InternalError, 'test drop');
    await waitForState(bob.client, 'closed');
    // Listed while the grace period runs, as if still there.
    expect(ids(await a.tether.in('lobby').presence())).toContain(bobId);
    await until(() => ada.changes.length === 2, 3_000, 'leave of bob');
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(550);
    expect(ada.changes[1]).toEqual({ type: 'leave', member: { connId: bobId, data: { user: 'bob' } } });
    expect(ids(await a.tether.in('lobby').presence())).toEqual([ada.client.connectionId!]);
  });

  it('drops the members of a node that left the bus without saying goodbye', async () => {
    const bus = new MemoryBus();
    buses.push(bus);
    let crashedLink: BusLink | undefined;
    // Node b's bus hands us its link so the test can detach it as a crashed node's expiry would.
    const tapped = new Proxy(bus, {
      get(target, key) {
        if (key === 'attach')
          return async (...args: Parameters<Bus['attach']>) => (crashedLink = await target.attach(...args));
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const a = await node({ bus });
    const b = await node({ bus: tapped });
    const ada = await member(a, 'ada');
    await member(b, 'bob');
    await eventually(async () => (await a.tether.in('lobby').presence()).length === 2, 2_000, 'two members');
    await crashedLink!.detach();
    expect(ids(await a.tether.in('lobby').presence())).toEqual([ada.client.connectionId!]);
    expect(ids(await ada.room.presence())).toEqual([ada.client.connectionId!]);
  });
});

// Skipped (with the reason in its title) when @tether/redis-bus or redis-server is missing.
const redisBus = await import('@tether/redis-bus').catch((err: Error) => err);
const skipReason =
  redisBus instanceof Error
    ? `@tether/redis-bus is not ready: ${redisBus.message}`
    : spawnSync('redis-server', ['--version']).status !== 0
      ? 'redis-server is not installed'
      : undefined;

describe.skipIf(skipReason !== undefined)(
  `presence on RedisBus across two nodes${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(() => redis?.stop());

    async function redisNode(prefix: string, options: TetherServerOptions = {}) {
      if (redisBus instanceof Error) throw redisBus;
      const bus = new redisBus.RedisBus({ url: redis.url, keyPrefix: prefix });
      buses.push(bus);
      const started = await node({ bus, ...options });
      await waitFor(() => bus.status === 'up', { timeout: 5_000, message: 'RedisBus never came up' });
      return started;
    }

    it('lists members of both nodes, announces joins and hides a flapping reconnect', async () => {
      const prefix = `presence-${Date.now()}:`;
      const a = await redisNode(prefix, { presenceGraceMs: 1_500 });
      const b = await redisNode(prefix, { presenceGraceMs: 1_500 });
      const ada = await member(a, 'ada');
      const bob = await member(b, 'bob');
      await until(() => ada.changes.length === 1, 3_000, 'join of bob');
      expect(ada.changes[0]).toMatchObject({ type: 'join', member: { connId: bob.client.connectionId } });
      const expected = [ada.client.connectionId!, bob.client.connectionId!].sort();
      expect(ids(await a.tether.in('lobby').presence())).toEqual(expected);
      expect(ids(await bob.room.presence())).toEqual(expected);
      // A control member on bob's node that is dropped after bob and does not come back.
      const cid = await member(b, 'cid', 'lobby', false);
      await until(() => ada.changes.length === 2, 3_000, 'join of cid');
      const cidId = cid.client.connectionId!;

      const before = bob.client.connectionId!;
      const rejoined = new Promise((resolve) => bob.room.on('tether:rejoined', resolve));
      connectionOf(b.tether, bob.client).close(CloseCode.InternalError, 'test drop');
      await waitForState(bob.client, 'reconnecting');
      await rejoined;
      connectionOf(b.tether, cid.client).close(CloseCode.InternalError, 'test drop');
      // The control's grace period started after bob's, on the same node and room channel: once
      // its leave reaches ada, bob's grace period is over and anything it announced came first.
      await until(() => ada.changes.length === 4, 5_000, 'leave of the control member');
      const after = bob.client.connectionId!;
      expect(ada.changes.slice(2)).toEqual([
        { type: 'reconnect', member: { connId: after, data: { user: 'bob' } }, previousConnId: before },
        { type: 'leave', member: { connId: cidId, data: { user: 'cid' } } },
      ]);
      expect(ids(await a.tether.in('lobby').presence())).toEqual([ada.client.connectionId!, after].sort());
    });
  },
);

describe('presence events are opt-in per room', () => {
  it('lists members of a quiet room but sends no join/leave events there', async () => {
    const server = await node();
    const a = server.client({ auth: { user: 'ann' } });
    const b = server.client({ auth: { user: 'bob' } });
    const roomA = await a.join('quiet:lobby');
    const changes: unknown[] = [];
    roomA.on('tether:presence', (change) => changes.push(change));
    roomA.on('fence', (marker) => changes.push(marker));
    const roomB = await b.join('quiet:lobby');
    const members = await roomB.presence();
    expect(
      members.map((m) => m.data).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    ).toEqual([{ user: 'ann' }, { user: 'bob' }]);
    roomB.leave();
    // Once the server has processed the leave, a room message behind it proves no event was sent.
    await waitFor(async () => (await roomA.presence()).length === 1, { message: 'the leave of bob' });
    expect((await roomA.presence()).map((m) => m.data)).toEqual([{ user: 'ann' }]);
    await fence({
      inbox: changes,
      send: () => server.tether.to('quiet:lobby').emit('fence', 'end'),
      isMarker: (m) => m === 'end',
    });
    expect(changes).toEqual(['end']);
  });
});
