import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { TetherServer } from '@tether/server';
import {
  delay,
  RedisCluster,
  type RedisClusterNode,
  redisCli,
  trackHandles,
  waitFor,
} from '@tether/test-utils';
import { busContract, multiNodeDelivery, recordingNode, uniqueRoom } from '@tether/test-utils/suites';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';
import { keySlot } from '../src/slot.js';
import { kit } from './kit.js';

// RedisBus on a real Redis Cluster of 3 masters: the bus contract and the cross-node delivery
// suite as on one Redis, sharded pub/sub observed from Redis itself, and a master killed
// mid-stream (on a second cluster, with replicas) while clients are in rooms.

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
});
afterAll(() => cluster?.stop());

const buses: RedisBus[] = [];
const makeBus = (keyPrefix = `c${randomUUID().slice(0, 6)}:`, nodes?: RedisClusterNode[]) => {
  const bus = new RedisBus({ cluster: { nodes: nodes ?? cluster.nodes }, keyPrefix });
  buses.push(bus);
  return bus;
};
afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

busContract('RedisBus on a 3-master cluster', async () => ({ bus: makeBus('contract:') }));

multiNodeDelivery('RedisBus on a 3-master cluster', kit, async () => {
  const bus = new RedisBus({ cluster: { nodes: cluster.nodes } });
  return { bus, cleanup: () => bus.close() };
});

/** The master serving a key's slot, read from CLUSTER SLOTS. */
async function ownerOf(nodes: readonly RedisClusterNode[], key: string): Promise<number> {
  const slot = keySlot(key);
  const client = new Cluster(nodes.slice(0, 1), { lazyConnect: true });
  try {
    await client.connect();
    const owner = client.slots[slot]?.[0];
    const index = nodes.findIndex((n) => `${n.host}:${n.port}` === owner);
    if (index < 0) throw new Error(`no node serves slot ${slot} (${owner})`);
    return index;
  } finally {
    client.disconnect();
  }
}

/** `INFO commandstats` calls of one command on one node. */
async function calls(port: number, command: string): Promise<number> {
  const stats = await redisCli(port, ['info', 'commandstats']);
  const line = stats.split('\n').find((l) => l.startsWith(`cmdstat_${command}:`));
  return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

describe('sharded pub/sub on a 3-master cluster', () => {
  it('sends room messages only to the shard of the room and the nodes serving it', async () => {
    const keyPrefix = `s${randomUUID().slice(0, 6)}:`;
    const [busA, busB, busC] = [makeBus(keyPrefix), makeBus(keyPrefix), makeBus(keyPrefix)];
    const [a, b, c] = [recordingNode('a'), recordingNode('b'), recordingNode('c')];
    const [linkA, linkB, linkC] = await Promise.all([
      busA.attach(a.node),
      busB.attach(b.node),
      busC.attach(c.node),
    ]);
    // Two rooms on different shards: r1 served by A and B, r2 by C only.
    const r1 = uniqueRoom('r1');
    let r2 = uniqueRoom('r2');
    const owner1 = await ownerOf(cluster.nodes, r1);
    for (let i = 0; i < 50 && (await ownerOf(cluster.nodes, r2)) === owner1; i++) r2 = uniqueRoom('r2');
    const owner2 = await ownerOf(cluster.nodes, r2);
    expect(owner2).not.toBe(owner1);
    await Promise.all([linkA.subscribe(r1), linkB.subscribe(r1), linkC.subscribe(r2)]);

    const ports = cluster.nodes.map((n) => n.port);
    const before = await Promise.all(ports.map((p) => calls(p, 'spublish')));
    const classicBefore = await Promise.all(ports.map((p) => calls(p, 'publish')));
    for (let i = 1; i <= 20; i++) {
      await busC.publish({ room: r1, event: 'e', data: i, history: { size: 100, ttlMs: 60_000 } });
      await busA.publish({ room: r2, event: 'e', data: i, history: { size: 100, ttlMs: 60_000 } });
    }
    await waitFor(
      () => a.deliveries.length === 20 && b.deliveries.length === 20 && c.deliveries.length === 20,
      {
        timeout: 5000,
      },
    );
    // Per Tether node: only the rooms it serves.
    expect(new Set(a.deliveries.map((d) => d.room))).toEqual(new Set([r1]));
    expect(new Set(b.deliveries.map((d) => d.room))).toEqual(new Set([r1]));
    expect(new Set(c.deliveries.map((d) => d.room))).toEqual(new Set([r2]));
    for (const node of [a, b, c]) expect(node.deliveries.map((d) => d.offset)).toEqual(range(1, 20));

    // Per Redis node: each room's SPUBLISHes ran on its own master only (20 each, plus probes
    // the buses send now and then), and classic PUBLISH (broadcast to every node) was not used.
    const after = await Promise.all(ports.map((p) => calls(p, 'spublish')));
    const classicAfter = await Promise.all(ports.map((p) => calls(p, 'publish')));
    const delta = after.map((n, i) => n - before[i]!);
    const other = [0, 1, 2].find((i) => i !== owner1 && i !== owner2)!;
    expect(delta[owner1]).toBeGreaterThanOrEqual(20);
    expect(delta[owner2]).toBeGreaterThanOrEqual(20);
    expect(delta[other]).toBeLessThan(10);
    expect(classicAfter).toEqual(classicBefore);
    // The room's shard knows its subscribers (2 for r1, 1 for r2); the other masters know none.
    const shardSubs = async (port: number, room: string) =>
      Number((await redisCli(port, ['pubsub', 'shardnumsub', `${keyPrefix}{${room}}:ch`])).split('\n')[1]);
    expect(await shardSubs(ports[owner1]!, r1)).toBe(2);
    expect(await shardSubs(ports[owner2]!, r2)).toBe(1);
    expect(await shardSubs(ports[other]!, r1)).toBe(0);
    expect(await shardSubs(ports[other]!, r2)).toBe(0);
  });

  it('opens a new epoch when a reader saw offsets the room no longer has (writes lost in a failover)', async () => {
    const bus = makeBus();
    const room = uniqueRoom();
    const history = { size: 10, ttlMs: 60_000 };
    const first = await bus.publish({ room, event: 'e', data: 1, history });
    // A client saw offset 3, but this lineage only reached 1: Redis lost writes it had acknowledged.
    const page = await bus.history(room, { epoch: first.epoch, offset: 3 }, 100);
    expect(page).toMatchObject({ offset: 1, complete: false, messages: [] });
    expect(page.epoch).not.toBe(first.epoch);
    const next = await bus.publish({ room, event: 'e', data: 2, history });
    expect(next).toMatchObject({ epoch: page.epoch, offset: 2 });
    // The old lineage is gone from history too: nothing from it is served under the new epoch.
    expect(await bus.history(room, { epoch: page.epoch, offset: 0 }, 100)).toMatchObject({
      complete: false,
      messages: [{ data: 2, offset: 2 }],
    });
  });

  it('leaves no handle behind when closed', async () => {
    const handles = trackHandles();
    const bus = new RedisBus({ cluster: { nodes: cluster.nodes } });
    const link = await bus.attach(recordingNode().node);
    await link.subscribe(uniqueRoom());
    await bus.publish({ room: uniqueRoom(), event: 'e', data: 1, history: false });
    await bus.close();
    await handles.check(3000);
  });

  it('works with a Cluster client the caller owns, and leaves it open', async () => {
    const client = new Cluster(cluster.nodes);
    try {
      const bus = new RedisBus({ client, keyPrefix: `o${randomUUID().slice(0, 6)}:` });
      buses.push(bus);
      const a = recordingNode();
      const link = await bus.attach(a.node);
      const room = uniqueRoom();
      await link.subscribe(room);
      await bus.publish({ room, event: 'e', data: 1, history: { size: 10, ttlMs: 10_000 } });
      await waitFor(() => a.deliveries.length === 1, { timeout: 5000 });
      await bus.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** One Tether node on its own RedisBus, as a separate process would be. */
interface TetherNode {
  http: Server;
  tether: TetherServer;
  bus: RedisBus;
  url: string;
  close(): Promise<void>;
}

async function tetherNode(
  nodes: RedisClusterNode[],
  keyPrefix: string,
  replicaAcks = 0,
): Promise<TetherNode> {
  const http = createServer((_req, res) => res.end('app'));
  const bus = new RedisBus({ cluster: { nodes }, keyPrefix, replicaAcks });
  const tether = new TetherServer({ server: http, bus, authorizeJoin: () => true });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`;
  await waitFor(() => bus.status === 'up', { timeout: 10_000, message: 'bus never came up' });
  return {
    http,
    tether,
    bus,
    url,
    async close() {
      await tether.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await bus.close();
    },
  };
}

describe('a master killed mid-stream (3 masters, 1 replica each)', () => {
  let failover: RedisCluster;
  const cleanup: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    failover = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  });
  afterAll(async () => {
    for (const release of cleanup.splice(0).reverse()) await release();
    await failover?.stop();
  });

  // replicaAcks 0 is the default (a write acknowledged just before the kill may be lost, which
  // the epoch check usually reports); with 1 a publish resolves only once the replica holds it.
  it.each([0, 1])(
    'loses nothing for clients in the room, and delivery resumes by itself (replicaAcks %i)',
    async (replicaAcks) => {
      const keyPrefix = `f${randomUUID().slice(0, 6)}:`;
      const nodes: TetherNode[] = [];
      for (let i = 0; i < 3; i++) {
        const node = await tetherNode(failover.nodes, keyPrefix, replicaAcks);
        cleanup.push(() => node.close());
        nodes.push(node);
      }
      const room = uniqueRoom('orders');
      const victim = await ownerOf(failover.nodes, `${keyPrefix}{${room}}:ch`);

      // Two clients per node, all in the room.
      const members: Array<{ client: TetherClient; got: number[] }> = [];
      for (const node of nodes) {
        for (let i = 0; i < 2; i++) {
          const client = new TetherClient(node.url, { transports: ['websocket'] });
          cleanup.push(() => client.close());
          const handle = await client.join(room);
          const got: number[] = [];
          handle.on('n', (data) => got.push(data as number));
          members.push({ client, got });
        }
      }
      const statuses = nodes.map(() => [] as string[]);
      nodes.forEach((node, i) => {
        node.tether.on('bus:status', (s) => statuses[i]!.push(s));
      });

      // A publisher emitting through the three nodes in turn, retrying each message (same id)
      // until Redis takes it: that is what an app does with BUS_UNAVAILABLE.
      let published = 0;
      let stop = false;
      const publisher = (async () => {
        for (let n = 1; !stop && n <= 2000; n++) {
          const deadline = Date.now() + 20_000;
          for (;;) {
            try {
              await nodes[n % 3]!.tether.to(room).emit('n', n, { id: `n${n}` });
              break;
            } catch (error) {
              if (Date.now() > deadline) throw error;
              await delay(50); // the app's back-off before it retries, part of what is simulated
            }
          }
          published = n;
          await delay(10); // pacing, not synchronisation: a steady stream, about 100 a second
        }
      })();

      await waitFor(() => published >= 30, { timeout: 5000 });
      await failover.killNode(victim);
      const killedAt = published;
      // The replica takes over (cluster-node-timeout 2 s), the buses move their subscriptions.
      await failover.waitUntilHealthy(20_000);
      // With replicaAcks 1 the promoted master has no replica to confirm writes, so publishes
      // reject (the app retries) until the killed node is back as its replica.
      if (replicaAcks > 0) await failover.restartNode(victim);
      await waitFor(() => nodes.every((n) => n.bus.status === 'up'), { timeout: 15_000 });
      const resumedAt = published;
      await waitFor(() => published >= resumedAt + 30, { timeout: 10_000 });
      stop = true;
      await publisher;

      // Everything published reached every member: once, in order.
      const expected = range(1, published);
      await waitFor(() => members.every((m) => m.got.length >= published), {
        timeout: 10_000,
        message: () => `got ${members.map((m) => m.got.length).join(',')} of ${published}`,
      });
      for (const m of members) expect(m.got).toEqual(expected);
      expect(killedAt).toBeGreaterThanOrEqual(30);
      // The nodes saw the bus go down and come back up without help.
      for (const s of statuses) expect(s.join()).toMatch(/down.*up$/);
      // Bring the shard back to a master and a replica for the next case.
      if (replicaAcks === 0) await failover.restartNode(victim);
    },
    60_000,
  );
});
