import { randomUUID } from 'node:crypto';
import { TetherError } from '@tether/protocol';
import { RedisServer, redisCli, trackHandles, waitFor } from '@tether/test-utils';
import { busContract, recordingNode, uniqueRoom } from '@tether/test-utils/suites';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus, type RedisBusSettings } from '../src/index.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis?.stop());

const cli = (...args: string[]) => redisCli(redis.port, args);

// Every bus a test makes is closed after it, even when the test fails half-way.
const buses: RedisBus[] = [];
const make = (options: RedisBusSettings & { client?: Redis } = {}) => {
  const bus = new RedisBus(
    options.client ? { ...options, client: options.client } : { ...options, url: redis.url },
  );
  buses.push(bus);
  return bus;
};
afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});
const prefix = () => `t${randomUUID().slice(0, 6)}:`;

busContract('RedisBus', async () => ({ bus: make({ keyPrefix: 'contract:' }) }));

describe('RedisBus on one Redis', () => {
  it('keeps offsets in order per room with several bus instances publishing at once', async () => {
    const keyPrefix = prefix();
    const publishers = [make({ keyPrefix }), make({ keyPrefix })];
    const listener = make({ keyPrefix });
    const c = recordingNode();
    const link = await listener.attach(c.node);
    const room = uniqueRoom();
    await link.subscribe(room);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        publishers[i % 2]!.publish({ room, event: 'e', data: i, history: { size: 200, ttlMs: 60_000 } }),
      ),
    );
    await waitFor(() => c.deliveries.length === 100, { timeout: 5000 });
    expect(c.deliveries.map((d) => d.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.offset)).size).toBe(100);
    await link.detach();
    await Promise.all([...publishers, listener].map((bus) => bus.close()));
  });

  it('stores what docs/redis-bus.md says, under the documented names and expiries', async () => {
    const keyPrefix = prefix();
    const bus = make({ keyPrefix, nodeTtlMs: 3000, roomTtlMs: 120_000 });
    const a = recordingNode('node-a');
    const link = await bus.attach(a.node);
    const room = 'order:42';
    await bus.publish({
      room,
      event: 'e',
      data: 1,
      history: { size: 10, ttlMs: 5000 },
      id: 'evt-1',
      dedupTtlMs: 7000,
    });
    await bus.addMember(room, 'node-a', { connId: 'c1', data: { n: 'Ann' } });
    await bus.set('session:1', 'v', 9000);
    const sessionSetAt = Date.now();
    const base = `${keyPrefix}{${room}}`;
    expect(await cli('type', `${base}:meta`)).toBe('hash');
    expect(await cli('type', `${base}:log`)).toBe('stream');
    expect(await cli('hget', `${base}:meta`, 'seq')).toBe('1');
    expect(await cli('hget', `${base}:meta`, 'keep')).toBe('10');
    const ttl = async (key: string) => Number(await cli('pttl', key));
    expect(await ttl(`${base}:meta`)).toBeGreaterThan(100_000);
    expect(await ttl(`${base}:log`)).toBeLessThanOrEqual(5000);
    expect(await ttl(`${base}:log`)).toBeGreaterThan(0);
    expect(await ttl(`${base}:dedup:evt-1`)).toBeLessThanOrEqual(7000);
    expect(await ttl(`${base}:dedup:evt-1`)).toBeGreaterThan(5000);
    expect(await ttl(`${keyPrefix}node:{node-a}:alive`)).toBeLessThanOrEqual(3000);
    expect(await ttl(`${keyPrefix}node:{node-a}:alive`)).toBeGreaterThan(0);
    expect(await ttl(`${base}:presence`)).toBeGreaterThan(0);
    expect(JSON.parse(await cli('hget', `${base}:presence`, 'c1'))).toEqual({ n: 'node-a', d: { n: 'Ann' } });
    // The asked 9 s less the time the checks above took (each one a redis-cli process).
    const sessionTtl = await ttl(`${keyPrefix}kv:{session:1}`);
    expect(sessionTtl).toBeLessThanOrEqual(9000);
    expect(sessionTtl).toBeGreaterThan(9000 - (Date.now() - sessionSetAt) - 100);
    await link.subscribe(room);
    const channels = (await cli('pubsub', 'channels', `${keyPrefix}*`)).split('\n').sort();
    expect(channels).toEqual(
      [
        `${base}:ch`,
        `${keyPrefix}node:{node-a}:ch`,
        expect.stringMatching(new RegExp(`^${keyPrefix}bus:\\{.+\\}:ch$`)),
      ].sort(),
    );
    // Every key the bus wrote starts with the prefix and carries a hash tag.
    const keys = (await cli('--scan', '--pattern', `${keyPrefix}*`)).split('\n');
    for (const key of keys) expect(key).toMatch(/\{[^}]+\}/);
    await link.detach();
    expect(await cli('exists', `${keyPrefix}node:{node-a}:alive`)).toBe('0');
    expect(await cli('hexists', `${base}:presence`, 'c1')).toBe('0');
    await bus.close();
  });

  it('bounds a room stream near `size` and keeps history answers exact', async () => {
    const keyPrefix = prefix();
    const bus = make({ keyPrefix });
    const room = uniqueRoom();
    for (let i = 0; i < 600; i++)
      await bus.publish({ room, event: 'e', data: i, history: { size: 50, ttlMs: 60_000 } });
    // MAXLEN ~ trims whole stream nodes (100 entries by default), so a few more may stay stored.
    expect(Number(await cli('xlen', `${keyPrefix}{${room}}:log`))).toBeLessThan(50 + 150);
    const { epoch } = await bus.history(room, undefined, 0);
    const page = await bus.history(room, { epoch, offset: 540 }, 100);
    expect(page.complete).toBe(false);
    expect(page.messages.map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 551 + i));
    expect((await bus.history(room, { epoch, offset: 550 }, 100)).complete).toBe(true);
    await bus.close();
  });

  it('accepts unbounded policies and TTLs (capped, not refused)', async () => {
    const bus = make({ keyPrefix: prefix(), historyLimit: 50 });
    const room = uniqueRoom();
    const r = await bus.publish({ room, event: 'e', data: 1, history: { size: Infinity, ttlMs: Infinity } });
    const page = await bus.history(room, { epoch: r.epoch, offset: 0 }, Infinity);
    expect(page).toMatchObject({ complete: true, messages: [{ data: 1 }] });
    expect(await bus.set('forever', 'v', Infinity)).toBe(true);
    expect(await bus.increment('count', Infinity)).toBe(1);
  });

  it('caps history per room at `historyLimit`', async () => {
    const keyPrefix = prefix();
    const bus = make({ keyPrefix, historyLimit: 3 });
    const room = uniqueRoom();
    for (let i = 0; i < 5; i++)
      await bus.publish({ room, event: 'e', data: i, history: { size: 100, ttlMs: 60_000 } });
    const { epoch } = await bus.history(room, undefined, 0);
    expect((await bus.history(room, { epoch, offset: 1 }, 10)).complete).toBe(false);
    expect((await bus.history(room, { epoch, offset: 2 }, 10)).messages).toHaveLength(3);
    await bus.close();
  });

  it('resubscribes and verifies delivery after its subscriber connection is killed', async () => {
    const keyPrefix = prefix();
    const bus = make({ keyPrefix });
    const a = recordingNode();
    const link = await bus.attach(a.node);
    const room = uniqueRoom();
    await link.subscribe(room);
    await cli('client', 'kill', 'type', 'pubsub');
    await waitFor(() => a.statuses.length >= 2, { timeout: 5000 });
    expect(a.statuses).toEqual(['down', 'up']);
    await bus.publish({ room, event: 'e', data: 'after', history: false });
    await waitFor(() => a.deliveries.length === 1, { timeout: 5000 });
    await link.detach();
    await bus.close();
  });

  it('reports a throwing node callback without stopping delivery to the other nodes', async () => {
    const thrown: unknown[] = [];
    const bus = make({ keyPrefix: prefix(), onError: (error) => thrown.push(error) });
    const b = recordingNode();
    const bad = await bus.attach({
      ...recordingNode().node,
      onRoomMessage: () => {
        throw new Error('node bug');
      },
    });
    const good = await bus.attach(b.node);
    const room = uniqueRoom();
    await bad.subscribe(room);
    await good.subscribe(room);
    await bus.publish({ room, event: 'e', data: 1, history: false });
    await waitFor(() => b.deliveries.length === 1 && thrown.length === 1, { timeout: 5000 });
    expect((thrown[0] as Error).message).toBe('node bug');
    await bus.close();
  });

  it('uses a client the caller passed, and leaves it open', async () => {
    const client = new Redis(redis.url);
    const listeners =
      client.listenerCount('ready') + client.listenerCount('close') + client.listenerCount('error');
    const bus = make({ client, keyPrefix: prefix() });
    const a = recordingNode();
    const link = await bus.attach(a.node);
    const room = uniqueRoom();
    await link.subscribe(room);
    await bus.publish({ room, event: 'e', data: 1, history: false });
    await waitFor(() => a.deliveries.length === 1, { timeout: 5000 });
    await link.detach();
    await bus.close();
    expect(client.status).toBe('ready');
    expect(
      client.listenerCount('ready') + client.listenerCount('close') + client.listenerCount('error'),
    ).toBe(listeners);
    await client.quit();
  });

  it('comes up with a caller client that is connected already', async () => {
    const client = new Redis(redis.url);
    await waitFor(() => client.status === 'ready', { timeout: 5000 });
    const bus = make({ client, keyPrefix: prefix() });
    const a = recordingNode();
    await bus.attach(a.node);
    expect(bus.status).toBe('up');
    await bus.close();
    await client.quit();
  });

  it('rejects every call with BUS_UNAVAILABLE once closed', async () => {
    const bus = make({ keyPrefix: prefix() });
    await bus.set('k', 'v', 1000);
    await bus.close();
    const error = await bus.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TetherError);
    expect((error as TetherError).code).toBe('BUS_UNAVAILABLE');
  });

  describe('handles', () => {
    it('closes its connections and timers when the last node detaches, and opens them again on use', async () => {
      const handles = trackHandles();
      const bus = make({ keyPrefix: prefix(), nodeTtlMs: 300 });
      const links = await Promise.all([bus.attach(recordingNode().node), bus.attach(recordingNode().node)]);
      await links[0]!.subscribe(uniqueRoom());
      await bus.publish({ room: uniqueRoom(), event: 'e', data: 1, history: { size: 5, ttlMs: 1000 } });
      // Let a heartbeat run: it renews each node's liveness key with one SET.
      const sets = async () =>
        Number(/cmdstat_set:calls=(\d+)/.exec(await cli('info', 'commandstats'))?.[1] ?? 0);
      const setsBefore = await sets();
      await waitFor(async () => (await sets()) - setsBefore >= 2, {
        timeout: 3000,
        message: 'no heartbeat ran',
      });
      await links[0]!.detach();
      expect(bus.status).toBe('up');
      await links[1]!.detach();
      expect(bus.status).toBe('down');
      await handles.check();
      // Used again without a node: it connects lazily, and close() releases it.
      expect(await bus.set('k', 'v', 1000)).toBe(true);
      expect(bus.status).toBe('up');
      await bus.close();
      await handles.check();
    });

    it('leaves nothing behind when closed with nodes still attached', async () => {
      const handles = trackHandles();
      const bus = make({ keyPrefix: prefix() });
      const link = await bus.attach(recordingNode().node);
      await link.subscribe(uniqueRoom());
      await bus.close();
      await handles.check();
    });
  });
});
