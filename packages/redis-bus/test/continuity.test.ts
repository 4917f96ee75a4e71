import { randomUUID } from 'node:crypto';
import type { TetherClient } from '@tether/client';
import type { HistoryPolicy } from '@tether/server';
import { RedisServer, startTestNode, TcpProxy, type TestNode, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';
import { kit } from './kit.js';

// Continuity on one Redis, clients staying connected: node A's connections to Redis are cut and
// refused while node B publishes. A repairs the gap from history when its bus is back up, or,
// where history does not have the messages, tells its clients before the next message.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Pair {
  a: TestNode;
  b: TestNode;
  proxy: TcpProxy;
  statuses: string[];
}

async function pair(history: HistoryPolicy | false): Promise<Pair> {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  const proxy = await TcpProxy.start({ target: { host: redis.host, port: redis.port } });
  cleanups.push(() => proxy.close());
  const keyPrefix = `c${randomUUID().slice(0, 6)}:`;
  const busA = new RedisBus({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix });
  const busB = new RedisBus({ url: redis.url, keyPrefix });
  cleanups.push(
    () => busA.close(),
    () => busB.close(),
  );
  const options = { authorizeJoin: () => true, history };
  const a = await startTestNode(kit, { ...options, bus: busA });
  const b = await startTestNode(kit, { ...options, bus: busB });
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const statuses: string[] = [];
  a.tether.on('bus:status', (status) => statuses.push(status));
  return { a, b, proxy, statuses };
}

/** A client of A in `room`, recording ticks and failed-recovery reports in arrival order. */
async function watcher(node: TestNode, room: string): Promise<{ client: TetherClient; log: string[] }> {
  const client = node.client();
  const log: string[] = [];
  const handle = await client.join(room);
  handle.on('tick', (data) => log.push(String(data)));
  handle.on('tether:rejoined', ({ recovered }) => log.push(`rejoined:${recovered}`));
  client.on('tether:recovery-failed', () => log.push('failed'));
  return { client, log };
}

/** Cuts A off Redis, publishes `count` ticks through B meanwhile, and lets A back. */
async function outage({ a, b, proxy, statuses }: Pair, room: string, from: number, count: number) {
  proxy.pause(); // every connection reset, new ones refused
  await waitFor(() => statuses.includes('down'), { timeout: 10_000 });
  for (let i = from; i < from + count; i++) await b.tether.to(room).emit('tick', i);
  proxy.resume();
  await waitFor(() => statuses.at(-1) === 'up' && a.tether.bus.status === 'up', { timeout: 15_000 });
}

describe('continuity while connected, one Redis', () => {
  it("repairs what A's subscription missed from history, in order, without a report", async () => {
    const nodes = await pair({ size: 1_000, ttlMs: 60_000 });
    const room = `r-${randomUUID().slice(0, 8)}`;
    const { client, log } = await watcher(nodes.a, room);
    await nodes.b.tether.to(room).emit('tick', 1);
    await waitFor(() => log.length === 1);
    await outage(nodes, room, 2, 20);
    await nodes.b.tether.to(room).emit('tick', 22);
    await waitFor(() => log.includes('22'), { timeout: 10_000 });
    expect(log).toEqual(Array.from({ length: 22 }, (_, i) => String(i + 1)));
    expect(client.state).toBe('open');
    // 2-21 at least (22 too, when it was stored before the repair read history).
    expect(nodes.a.tether.counters.gapMessagesRepaired).toBeGreaterThanOrEqual(20);
  });

  it('tells the clients before the next message when history does not hold the missed ones', async () => {
    const nodes = await pair(false);
    const room = `r-${randomUUID().slice(0, 8)}`;
    const { client, log } = await watcher(nodes.a, room);
    await nodes.b.tether.to(room).emit('tick', 1);
    await waitFor(() => log.length === 1);
    await outage(nodes, room, 2, 5);
    await nodes.b.tether.to(room).emit('tick', 7);
    await waitFor(() => log.includes('7'), { timeout: 10_000 });
    expect(log).toEqual(['1', 'rejoined:false', 'failed', '7']);
    expect(client.state).toBe('open');
    expect(nodes.a.tether.counters.gapsLost).toBe(1);
  });

  it('leaves the sender of an except broadcast out without making it resume (p marks the skip)', async () => {
    const nodes = await pair({ size: 1_000, ttlMs: 60_000 });
    const room = `r-${randomUUID().slice(0, 8)}`;
    nodes.a.tether.on('connection', (conn) =>
      conn.on('say', async (text) => {
        await conn.to(room).emit('tick', text);
      }),
    );
    const sender = await watcher(nodes.a, room);
    const other = await watcher(nodes.a, room);
    await sender.client.request('say', 'x');
    await nodes.b.tether.to(room).emit('tick', 'y');
    await waitFor(() => sender.log.includes('y') && other.log.includes('y'));
    expect(sender.log).toEqual(['y']);
    expect(other.log).toEqual(['x', 'y']);
    expect(nodes.a.tether.metrics().recoveries).toEqual({ ok: 0, failed: 0 });
  });
});
