import { randomUUID } from 'node:crypto';
import { TetherError } from '@tether/protocol';
import { delay, freePort, RedisServer, redisCli, TcpProxy, trackHandles, waitFor } from '@tether/test-utils';
import { recordingNode, uniqueRoom } from '@tether/test-utils/suites';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus, type RedisBusOptions } from '../src/index.js';

// What each test opened, closed after it even when it fails half-way.
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function startRedis(port?: number): Promise<RedisServer> {
  const redis = await RedisServer.start(port === undefined ? {} : { port });
  cleanups.push(() => redis.stop());
  return redis;
}

function makeBus(options: RedisBusOptions): RedisBus {
  const bus = new RedisBus({ keyPrefix: `o${randomUUID().slice(0, 6)}:`, ...options });
  cleanups.push(() => bus.close());
  return bus;
}

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TetherError);
  expect((error as TetherError).code).toBe('BUS_UNAVAILABLE');
}

describe('RedisBus when Redis fails', () => {
  it('goes down on a crash, comes back after a restart that lost every key, and delivery resumes by itself', async () => {
    const redis = await startRedis();
    const keyPrefix = `o${randomUUID().slice(0, 6)}:`;
    const busA = makeBus({ url: redis.url, keyPrefix });
    const busB = makeBus({ url: redis.url, keyPrefix });
    const a = recordingNode('node-a');
    const b = recordingNode('node-b');
    const linkA = await busA.attach(a.node);
    const linkB = await busB.attach(b.node);
    expect([busA.status, busB.status]).toEqual(['up', 'up']);
    const room = uniqueRoom();
    await linkA.subscribe(room);
    await linkB.subscribe(room);

    // A stream of messages from both nodes, kept going through the crash.
    let running = true;
    const failures: unknown[] = [];
    const pump = (async () => {
      for (let i = 0; i < 2000 && running; i++) {
        const bus = i % 2 === 0 ? busA : busB;
        await bus
          .publish({ room, event: 'tick', data: i, history: { size: 500, ttlMs: 60_000 } })
          .catch((e) => failures.push(e));
        await delay(10); // pacing, not synchronisation: a steady stream, about 100 a second
      }
    })();
    cleanups.push(async () => {
      running = false;
      await pump;
    });

    await waitFor(() => a.deliveries.length >= 10 && b.deliveries.length >= 10, { timeout: 5000 });
    const before = await busA.history(room, undefined, 0);

    await redis.kill();
    await waitFor(() => busA.status === 'down' && busB.status === 'down', { timeout: 5000 });
    expect(a.statuses).toEqual(['down']);
    expect(b.statuses).toEqual(['down']);

    // While down: rejected, never queued (a queued call would wait for the restart below, which
    // comes only after these answered, and the test would hang).
    await expectUnavailable(busA.publish({ room, event: 'lost', data: 0, history: false }));
    await expectUnavailable(busB.history(room, before, 10));
    await expectUnavailable(busA.members(room));
    await delay(300); // the fault itself: Redis stays away for a while before it restarts

    await redis.restart();
    await waitFor(() => busA.status === 'up' && busB.status === 'up', { timeout: 10_000 });
    expect(a.statuses).toEqual(['down', 'up']);
    expect(b.statuses).toEqual(['down', 'up']);

    // Delivery resumes without any call from the nodes: messages of the new epoch reach both.
    const resumed = (deliveries: typeof a.deliveries) => deliveries.filter((d) => d.epoch !== before.epoch);
    await waitFor(() => resumed(a.deliveries).length >= 10 && resumed(b.deliveries).length >= 10, {
      timeout: 5000,
    });
    running = false;
    await pump;
    for (const node of [a, b]) {
      const offsets = resumed(node.deliveries).map((d) => d.offset);
      expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
      expect(new Set(offsets).size).toBe(offsets.length);
    }
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect((failure as TetherError).code).toBe('BUS_UNAVAILABLE');

    // Redis lost everything: the old position belongs to a gone epoch, and history says so.
    const page = await busB.history(room, before, 100);
    expect(page.epoch).not.toBe(before.epoch);
    expect(page.complete).toBe(false);
    expect(page.messages).toEqual([]);
  });

  it('attaches while Redis is down (status down), then comes up by itself when Redis starts', async () => {
    const port = await freePort();
    const bus = makeBus({ url: `redis://127.0.0.1:${port}` });
    const a = recordingNode();
    const link = await bus.attach(a.node);
    expect(bus.status).toBe('down');
    await expectUnavailable(bus.publish({ room: 'r', event: 'e', data: 1, history: false }));
    await expectUnavailable(bus.get('k'));
    const room = uniqueRoom();
    await link.subscribe(room); // remembered, subscribed once Redis is there

    await startRedis(port);
    await waitFor(() => bus.status === 'up', { timeout: 10_000 });
    expect(a.statuses).toEqual(['up']);
    await bus.publish({ room, event: 'e', data: 'hello', history: false });
    await waitFor(() => a.deliveries.length === 1, { timeout: 5000 });
  });

  it("hides a vanished node's presence within nodeTtlMs, and shows it again when the node is back", async () => {
    const redis = await startRedis();
    // Node B reaches Redis through a proxy: pausing it makes B vanish the way a crashed or
    // partitioned process does (no detach, no goodbye), while A keeps working.
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: redis.port } });
    cleanups.push(() => proxy.close());
    const keyPrefix = `o${randomUUID().slice(0, 6)}:`;
    const busA = makeBus({ url: redis.url, keyPrefix, nodeTtlMs: 600 });
    const busB = makeBus({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix, nodeTtlMs: 600 });
    const a = recordingNode();
    const b = recordingNode();
    await busA.attach(a.node);
    await busB.attach(b.node);
    const room = uniqueRoom();
    await busA.addMember(room, a.node.nodeId, { connId: 'a1', data: 'A' });
    await busB.addMember(room, b.node.nodeId, { connId: 'b1', data: 'B' });
    const ids = async () => (await busA.members(room)).map((m) => m.connId).sort();
    expect(await ids()).toEqual(['a1', 'b1']);

    proxy.pause();
    await waitFor(async () => (await ids()).join() === 'a1', { timeout: 3000, interval: 50 });
    // The stale entry is deleted after that read (a write of its own), not only hidden.
    await waitFor(
      async () => (await redisCli(redis.port, ['hexists', `${keyPrefix}{${room}}:presence`, 'b1'])) === '0',
      { timeout: 3000, interval: 50 },
    );
    await waitFor(() => busB.status === 'down', { timeout: 3000 });

    proxy.resume();
    await waitFor(() => busB.status === 'up', { timeout: 10_000 });
    // B wrote its liveness and its members back as part of coming up.
    expect(await ids()).toEqual(['a1', 'b1']);
  });

  it('gives back presence after a restart that lost every key', async () => {
    const redis = await startRedis();
    const bus = makeBus({ url: redis.url });
    const a = recordingNode();
    await bus.attach(a.node);
    const room = uniqueRoom();
    await bus.addMember(room, a.node.nodeId, { connId: 'c1', data: { n: 1 } });
    await redis.restart();
    await waitFor(() => a.statuses.join() === 'down,up', { timeout: 10_000 });
    expect(await bus.members(room)).toEqual([{ connId: 'c1', data: { n: 1 } }]);
  });

  it('leaves no handle behind when closed while Redis is down and reconnecting', async () => {
    const handles = trackHandles();
    const redis = await RedisServer.start();
    // Through a proxy that can make Redis unreachable and count the reconnects it refuses.
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: redis.port } });
    const bus = new RedisBus({ url: `redis://127.0.0.1:${proxy.port}` });
    const link = await bus.attach(recordingNode().node);
    await link.subscribe(uniqueRoom());
    proxy.pause();
    await waitFor(() => bus.status === 'down', { timeout: 5000 });
    // A reconnect was tried and failed: the next one's timer is pending now.
    await waitFor(() => proxy.refusedConnections >= 1, { timeout: 5000, message: 'no reconnect attempt' });
    await bus.close();
    await proxy.close();
    await redis.stop();
    await handles.check();
  });
});
