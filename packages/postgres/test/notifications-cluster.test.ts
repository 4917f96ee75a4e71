/**
 * Durable notifications end to end on the production stack: two Tether nodes, each with its own
 * RedisBus (a real redis-server) and its own PostgresInbox on one real PostgreSQL database, and
 * clients over real sockets. Everything goes through the public API.
 */
import { TetherClient, type TetherClientOptions, type TetherStorage } from '@tether/client';
import { persistTo } from '@tether/client/persistence';
import { RedisBus } from '@tether/redis-bus';
import {
  CloseCode,
  type OfflineNotification,
  TetherEmitter,
  TetherError,
  TetherServer,
  type UndeliveredNotification,
} from '@tether/server';
import {
  RedisServer,
  startTestNode,
  type TestNode,
  type TetherKit,
  until,
  waitFor,
  waitForState,
} from '@tether/test-utils';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresInbox } from '../src/postgres-inbox.js';
import { createTestDatabase, type TestDatabase, uniqueSchema } from './database.js';

const kit: TetherKit = { TetherServer, TetherClient, TetherError, CloseCode };

let db: TestDatabase;
let redis: RedisServer;
beforeAll(async () => {
  [db, redis] = await Promise.all([createTestDatabase(), RedisServer.start()]);
});
afterAll(async () => {
  await redis?.stop();
  await db?.drop();
});

/** One node of the cluster: its own bus and inbox, as a separate process would have. */
interface ClusterNode {
  node: TestNode;
  inbox: PostgresInbox;
  undelivered: UndeliveredNotification[];
  offline: OfflineNotification[];
  client(userId: string, options?: TetherClientOptions): TetherClient;
  stop(): Promise<void>;
}

let schema: string;
let running: ClusterNode[] = [];
afterEach(async () => {
  await Promise.all(running.map((n) => n.stop()));
  running = [];
});

async function startClusterNode(port = 0): Promise<ClusterNode> {
  const inbox = new PostgresInbox({ connectionString: db.url, schema, sweepIntervalMs: 50 });
  await inbox.ready();
  const bus = new RedisBus({ url: redis.url });
  const node = await startTestNode(
    kit,
    {
      bus,
      inbox,
      authenticate: (_req, auth) => auth as { userId: string },
      notifications: { maxAttempts: 3, ackTimeoutMs: 300, offlineAfterMs: 500 },
    },
    port,
  );
  const undelivered: UndeliveredNotification[] = [];
  const offline: OfflineNotification[] = [];
  node.tether.on('undelivered', (m) => void undelivered.push(m as UndeliveredNotification));
  node.tether.on('notification:offline', (n) => void offline.push(n));
  let stopped: Promise<void> | undefined;
  const entry: ClusterNode = {
    node,
    inbox,
    undelivered,
    offline,
    client: (userId, options = {}) => node.client({ auth: { userId }, ...options }),
    stop: () => {
      stopped ??= (async () => {
        await node.close();
        await inbox.close();
        await bus.close();
      })();
      return stopped;
    },
  };
  running.push(entry);
  return entry;
}

async function cluster(): Promise<[ClusterNode, ClusterNode]> {
  schema = uniqueSchema();
  // The first node creates the schema; the second finds it.
  const a = await startClusterNode();
  const b = await startClusterNode();
  return [a, b];
}

function memoryStorage(): TetherStorage {
  const data = new Map<string, string>();
  return {
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

/** Waits until the user has nothing pending in the inbox (every notification acknowledged). */
async function drained(inbox: PostgresInbox, userId: string, what: string): Promise<void> {
  await waitFor(async () => (await inbox.pending(userId)).length === 0, {
    timeout: 10_000,
    interval: 50,
    message: `timed out waiting for ${what}`,
  });
}

describe('notifications across two nodes on RedisBus and PostgresInbox', () => {
  it('reaches the user on the other node, on every connection, and is acknowledged once', async () => {
    const [a, b] = await cluster();
    const onA = a.client('u');
    const onB = b.client('u');
    const got: Record<string, unknown[]> = { a: [], b: [] };
    onA.on('dm', (d) => void got.a!.push(d));
    onB.on('dm', (d) => void got.b!.push(d));
    await Promise.all([waitForState(onA, 'open'), waitForState(onB, 'open')]);
    // Live emit and durable notify, both from node A; B's connection is reached over the bus.
    onB.on('badge', (d) => void got.b!.push(d));
    await a.node.tether.user('u').emit('badge', 'live');
    await a.node.tether.user('u').notify('dm', 'hello', { id: 'dm-1' });
    await until(() => got.a!.length === 1 && got.b!.length === 2, 10_000, 'both connections');
    expect(got).toEqual({ a: ['hello'], b: ['live', 'hello'] });
    await drained(a.inbox, 'u', 'the ack');
  });

  it('keeps the backlog through a node restart: the user comes back on the other node and gets it once, in order', async () => {
    const [a, b] = await cluster();
    const storage = memoryStorage();
    const first = a.client('u', { persistence: persistTo(storage) });
    const seen: unknown[] = [];
    first.on('n', (d) => void seen.push(d));
    await waitForState(first, 'open');
    await b.node.tether.user('u').notify('n', 0, { id: 'n-0' });
    await until(() => seen.length === 1, 10_000, 'the live one');
    await drained(b.inbox, 'u', 'its ack');
    first.close();
    const port = a.node.port;
    await a.stop();

    // While the user is away and node A is down: a backend service notifies through its own inbox.
    const emitterInbox = new PostgresInbox({ connectionString: db.url, schema });
    const emitterBus = new RedisBus({ url: redis.url });
    const emitter = new TetherEmitter({ bus: emitterBus, inbox: emitterInbox });
    for (let i = 1; i <= 5; i++) await emitter.user('u').notify('n', i, { id: `n-${i}` });
    await emitter.close();
    await emitterInbox.close();

    const restarted = await startClusterNode(port);
    const second = b.client('u', { persistence: persistTo(storage) });
    second.on('n', (d) => void seen.push(d));
    await until(() => seen.length === 6, 10_000, 'the backlog');
    await drained(b.inbox, 'u', 'the acks');
    // A fence through the restarted node: nothing else arrives before it.
    await restarted.node.tether.user('u').notify('n', 'fence', { id: 'n-fence' });
    await until(() => seen.length === 7, 10_000, 'the fence');
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 'fence']);
  });

  it('dead-letters once in the cluster after maxAttempts, lists it on either node, and redrives it', async () => {
    const [a, b] = await cluster();
    const onA = a.client('u');
    const onB = b.client('u');
    let fail = true;
    const got: unknown[] = [];
    for (const c of [onA, onB]) {
      c.on('error', () => {});
      c.on('invoice', (d) => {
        if (fail) throw new Error('broken page');
        got.push(d);
      });
    }
    await Promise.all([waitForState(onA, 'open'), waitForState(onB, 'open')]);
    await a.node.tether.user('u').notify('invoice', 7, { id: 'inv-7' });
    await until(() => a.undelivered.length + b.undelivered.length === 1, 15_000, 'the dead letter');
    const [report] = [...a.undelivered, ...b.undelivered];
    expect(report).toMatchObject({ reason: 'dead-letter', id: 'inv-7', userId: 'u', attempts: 3 });
    expect((await b.node.tether.deadLetters.list({ userId: 'u' })).map((l) => l.id)).toEqual(['inv-7']);

    fail = false;
    expect(await b.node.tether.deadLetters.redrive('inv-7')).toBe(true);
    await until(() => got.length === 2, 10_000, 'the redriven one on both connections');
    await drained(a.inbox, 'u', 'its ack');
    expect(await a.node.tether.deadLetters.list()).toEqual([]);
    expect(a.undelivered.length + b.undelivered.length).toBe(1);
  });

  it('collapses by key and reports expiry once in the cluster', async () => {
    const [a, b] = await cluster();
    await a.node.tether.user('u').notify('status', 'placed', { collapseKey: 'order:1' });
    await b.node.tether.user('u').notify('status', 'picked-up', { collapseKey: 'order:1' });
    await a.node.tether.user('away').notify('promo', 1, { id: 'promo-1', ttlMs: 50 });
    const client = b.client('u');
    const got: unknown[] = [];
    client.on('status', (d) => void got.push(d));
    await until(() => got.length === 1, 10_000, 'the collapsed one');
    await until(() => a.undelivered.length + b.undelivered.length === 1, 10_000, 'the expiry');
    expect(got).toEqual(['picked-up']);
    expect([...a.undelivered, ...b.undelivered]).toEqual([
      expect.objectContaining({ reason: 'expired', id: 'promo-1', userId: 'away' }),
    ]);
  });

  it('fires notification:offline once in the cluster', async () => {
    const [a, b] = await cluster();
    await a.node.tether.user('away').notify('dm', 'first', { id: 'dm-1' });
    await until(() => a.offline.length + b.offline.length === 1, 10_000, 'the offline notice');
    await b.node.tether.user('away').notify('dm', 'second', { id: 'dm-2' });
    await until(() => a.offline.length + b.offline.length === 2, 10_000, 'the second notice');
    expect([...a.offline, ...b.offline].map((n) => n.id).sort()).toEqual(['dm-1', 'dm-2']);
  });

  it('transactional outbox: a rolled-back write sends nothing, a committed one wakes the node and is delivered', async () => {
    const [a, b] = await cluster();
    const client = b.client('u');
    const got: unknown[] = [];
    client.on('order:status', (d) => void got.push(d));
    await waitForState(client, 'open');
    const app = new pg.Client({ connectionString: db.url });
    await app.connect();
    try {
      await app.query('BEGIN');
      await a.inbox.notify(app, 'u', 'order:status', 'rolled back', { id: 'tx-1' });
      await app.query('ROLLBACK');
      await app.query('BEGIN');
      await a.inbox.notify(app, 'u', 'order:status', 'committed', { id: 'tx-2' });
      await app.query('COMMIT');
    } finally {
      await app.end();
    }
    await until(() => got.length === 1, 10_000, 'the committed notification');
    await drained(a.inbox, 'u', 'its ack');
    expect(got).toEqual(['committed']);
    expect(await a.inbox.deadLetters()).toEqual([]);
  });

  it('disconnects every connection of the user on both nodes; the clients stay closed', async () => {
    const [a, b] = await cluster();
    const clients = [a.client('u'), b.client('u'), b.client('other')];
    for (const c of clients) c.on('error', () => {});
    await Promise.all(clients.map((c) => waitForState(c, 'open')));
    await a.node.tether.user('u').disconnect('account closed');
    await Promise.all([waitForState(clients[0]!, 'closed'), waitForState(clients[1]!, 'closed')]);
    for (const c of clients.slice(0, 2))
      expect(c.lastDisconnect).toEqual({ code: 4410, reason: 'account closed', willReconnect: false });
    expect(clients[2]!.state).toBe('open');
  });
});
