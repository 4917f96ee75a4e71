import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { TetherServer } from '@tether/server';
import { delay, RedisServer, redisCli, trackHandles, waitFor } from '@tether/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

/** One Tether node: its own http server on port 0, its own TetherServer and its own RedisBus. */
interface Node {
  http: Server;
  tether: TetherServer;
  bus: RedisBus;
  url: string;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis?.stop());

const clients: TetherClient[] = [];
const nodes: Node[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(nodes.splice(0).map(stopNode));
});

async function startNode(keyPrefix: string): Promise<Node> {
  const http = createServer((_req, res) => res.end('app'));
  const bus = new RedisBus({ url: redis.url, keyPrefix });
  const tether = new TetherServer({ server: http, bus, authorizeJoin: () => true });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const node = { http, tether, bus, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether` };
  nodes.push(node);
  // ready(): the bus is up and its initial `bus:status` has been emitted (listeners added later see changes only).
  await tether.ready({ timeoutMs: 5000 });
  return node;
}

async function stopNode(node: Node): Promise<void> {
  await node.tether.close();
  node.http.closeAllConnections();
  await new Promise<void>((resolve) => node.http.close(() => resolve()));
}

/** A client joined to `room` on `node`, recording the data of every `event` it receives there. */
async function member(
  node: Node,
  room: string,
  event = 'tick',
): Promise<{ client: TetherClient; received: unknown[]; offsets: number[] }> {
  const client = new TetherClient(node.url, { reconnect: { initialDelay: 50, maxDelay: 300 } });
  clients.push(client);
  const handle = await client.join(room);
  const received: unknown[] = [];
  const offsets: number[] = [];
  handle.on(event, (data, meta) => {
    received.push(data);
    offsets.push(meta.offset);
  });
  return { client, received, offsets };
}

const subscribers = async (keyPrefix: string, room: string) =>
  Number((await redisCli(redis.port, ['pubsub', 'numsub', `${keyPrefix}{${room}}:ch`])).split('\n')[1]);

describe('three TetherServers on one Redis', () => {
  it('delivers a room broadcast from any node to members on every node, and only nodes with members subscribe', async () => {
    const keyPrefix = `m${randomUUID().slice(0, 6)}:`;
    const [n1, n2, n3] = [
      await startNode(keyPrefix),
      await startNode(keyPrefix),
      await startNode(keyPrefix),
    ] as const;
    const room = `order:${randomUUID().slice(0, 8)}`;
    const m1 = await member(n1, room);
    const m2 = await member(n2, room);
    // Only the two nodes with members listen to the room's channel; n3 has none.
    expect(await subscribers(keyPrefix, room)).toBe(2);

    await n3.tether.to(room).emit('tick', { from: 3 });
    await n1.tether.to(room).emit('tick', { from: 1 });
    await n2.tether.to(room).emit('tick', { from: 2 });
    await waitFor(() => m1.received.length === 3 && m2.received.length === 3, { timeout: 5000 });
    for (const m of [m1, m2]) {
      expect(m.received).toEqual([{ from: 3 }, { from: 1 }, { from: 2 }]);
      expect(m.offsets).toEqual([1, 2, 3]);
    }
    const presence = await n3.tether.in(room).presence();
    expect(presence).toHaveLength(2);

    // The last member on n2 leaves: n2 unsubscribes, delivery to n1 goes on.
    m2.client.close();
    await waitFor(async () => (await subscribers(keyPrefix, room)) === 1, { timeout: 5000 });
    await n3.tether.to(room).emit('tick', { from: 3, again: true });
    await waitFor(() => m1.received.length === 4, { timeout: 5000 });
    expect(m2.received).toHaveLength(3);
  });

  it('resumes cross-node delivery within seconds after Redis is killed and restarted mid-stream', async () => {
    const keyPrefix = `m${randomUUID().slice(0, 6)}:`;
    const [n1, n2, n3] = [
      await startNode(keyPrefix),
      await startNode(keyPrefix),
      await startNode(keyPrefix),
    ] as const;
    const statuses: string[] = [];
    n1.tether.on('bus:status', (status) => statuses.push(status));
    const room = `feed:${randomUUID().slice(0, 8)}`;
    const m1 = await member(n1, room);
    const m2 = await member(n2, room);

    let running = true;
    let sent = 0;
    const pump = (async () => {
      for (let i = 0; i < 3000 && running; i++) {
        await n3.tether
          .to(room)
          .emit('tick', { i })
          .then(() => sent++)
          .catch(() => {}); // rejected with BUS_UNAVAILABLE while Redis is away
        await delay(10); // pacing, not synchronisation: a steady stream, about 100 a second
      }
    })();
    try {
      await waitFor(() => m1.received.length >= 10 && m2.received.length >= 10, { timeout: 5000 });
      await redis.kill();
      await waitFor(() => n1.bus.status === 'down' && n3.bus.status === 'down', { timeout: 5000 });
      await delay(300); // the fault itself: Redis stays away for a while before it restarts
      await redis.restart();
      const counts = [m1.received.length, m2.received.length];
      await waitFor(() => m1.received.length >= counts[0]! + 10 && m2.received.length >= counts[1]! + 10, {
        timeout: 5000,
        message: 'cross-node delivery did not resume within 5 s of the restart',
      });
      expect(statuses).toEqual(['down', 'up']);
      expect(m1.client.state).toBe('open');
    } finally {
      running = false;
      await pump;
    }
    expect(sent).toBeGreaterThanOrEqual(20);
  });

  it('leaves no handle open once clients, Tether servers and http servers are closed', async () => {
    const handles = trackHandles();
    const keyPrefix = `m${randomUUID().slice(0, 6)}:`;
    const n1 = await startNode(keyPrefix);
    const n2 = await startNode(keyPrefix);
    const room = `leak:${randomUUID().slice(0, 8)}`;
    const m1 = await member(n1, room);
    await n2.tether.to(room).emit('tick', 1);
    await waitFor(() => m1.received.length === 1, { timeout: 5000 });
    for (const client of clients.splice(0)) client.close();
    await Promise.all(nodes.splice(0).map(stopNode));
    expect(n1.bus.status).toBe('down');
    await handles.check(2000);
  });
});
