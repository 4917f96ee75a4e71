// Durable notifications under a node crash (part of `pnpm test:chaos`): two Tether nodes in their
// own processes on one redis-server and one PostgreSQL inbox; a backend service notifies a user
// through a TetherEmitter; the node that holds the user's connection and delivers to it is
// SIGKILLed mid-stream. Every notification whose `notify` resolved reaches the user exactly once,
// on the other node, and in `notify` order: the new connection's first claim re-sends what the
// dead node held in flight before anything newer (no notification arrives behind a newer one).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { TetherClient } from '@tether/client';
import { RedisServer, TcpProxy, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresInbox } from '../packages/postgres/dist/index.js';
import { RedisBus, TetherEmitter } from '../packages/redis-bus/dist/index.js';
import { ChaosNode, record } from './harness.js';

// pg is a dependency of @tether/postgres: the same copy it uses.
const pg = createRequire(new URL('../packages/postgres/package.json', import.meta.url))('pg') as {
  Client: new (options: {
    connectionString: string;
  }) => {
    connect(): Promise<void>;
    query(sql: string): Promise<unknown>;
    end(): Promise<void>;
  };
};
const SERVER = process.env.TETHER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
const TOTAL = 60;
const KILL_AFTER = 20;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('chaos: durable notifications', () => {
  it('the delivering node is SIGKILLed mid-stream: every stored notification arrives exactly once, in notify order', async () => {
    const database = `tether_chaos_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    await admin(`CREATE DATABASE ${database}`);
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    const pgUrl = `${SERVER}/${database}`;
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const env = { CHAOS_PG_URL: pgUrl };
    const a = await ChaosNode.start('a', redis.url, env);
    cleanups.push(() => a.close());
    const b = await ChaosNode.start('b', redis.url, env);
    cleanups.push(() => b.close());
    const lb = await TcpProxy.start({ target: { host: '127.0.0.1', port: a.port } });
    cleanups.push(() => lb.close());

    const bus = new RedisBus({ url: redis.url });
    const inbox = new PostgresInbox({ connectionString: pgUrl });
    const emitter = new TetherEmitter({ bus, inbox });
    cleanups.push(async () => {
      await emitter.close();
      await inbox.close();
    });

    const seen: number[] = [];
    const client = new TetherClient(lb.url('/tether'), {
      auth: { userId: 'u1' },
      reconnect: { initialDelay: 50, maxDelay: 300 },
    });
    cleanups.push(() => client.close());
    client.on('error', () => {});
    client.on('note', (data) => void seen.push((data as { seq: number }).seq));
    await waitFor(() => client.state === 'open', { timeout: 20_000 });

    const stored: number[] = [];
    for (let seq = 1; seq <= TOTAL; seq++) {
      if (seq === KILL_AFTER + 1) {
        // The user's node dies while it delivers; new connections go to B from now on.
        await waitFor(() => seen.length >= KILL_AFTER / 2, { timeout: 20_000 });
        lb.setTarget({ host: '127.0.0.1', port: b.port });
        a.signal('SIGKILL');
        await a.exited;
      }
      await emitter.user('u1').notify('note', { seq }, { id: `note-${seq}` });
      stored.push(seq);
    }
    await waitFor(() => seen.length >= stored.length, {
      timeout: 60_000,
      message: () => `got ${seen.length} of ${stored.length}`,
    });
    // A fence: one more notification; once it arrived, any duplicate sent before it has too.
    const fence = TOTAL + 1;
    await emitter.user('u1').notify('note', { seq: fence }, { id: 'note-fence' });
    await waitFor(() => seen.includes(fence), { timeout: 60_000, message: 'the fence' });
    const outOfOrder = seen.filter((seq, i) => i > 0 && seq < seen[i - 1]!).length;
    record({
      fault: 'notifications: delivering node SIGKILL',
      stored: stored.length,
      received: seen.length - 1,
      arrivedBehindNewer: outOfOrder,
    });
    expect([...seen].sort((x, y) => x - y)).toEqual([...stored, fence]);
    expect(outOfOrder).toBe(0);
    expect(seen).toEqual([...stored, fence]);
  });
});
