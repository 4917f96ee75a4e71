import type { Duplex } from 'node:stream';
import { msgpackCodec } from '@tether/client/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { TetherServerOptions } from '../src/index.js';
import { startNode, type TestNode, until } from './harness.js';

const nodes: TestNode[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const node of nodes.splice(0)) await node.close();
});

async function node(options: TetherServerOptions = {}) {
  const started = await startNode({ authorizeJoin: () => true, ...options });
  started.tether.on('connection', (conn) => {
    void conn.join('dash');
    conn.on('echo', (d) => d);
  });
  nodes.push(started);
  return started;
}

/** A 10 KB dashboard snapshot, the kind of payload compression is for. */
function snapshot(seed: number) {
  const rows = [];
  for (let r = 0; r < 100; r++) {
    rows.push({
      service: `svc-${r}`,
      region: ['eu-west-1', 'us-east-1', 'ap-south-1'][r % 3],
      rps: 700 + ((seed * 31 + r * 17) % 600),
      p50: 9 + ((seed + r * 3) % 6),
      p99: 60 + ((seed + r * 7) % 40),
      errors: (seed * r) % 13,
      up: (seed + r) % 50 !== 0,
    });
  }
  return { generatedAt: 1718000000000 + seed, rows };
}

/** A raw client (offering permessage-deflate, as ws and browsers do) that counts bytes per message. */
async function rawClient(url: string) {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['tether.v1.json']);
  sockets.push(ws);
  const received: Array<{
    message: { t: string; e?: string; d?: unknown };
    wireBytes: number;
    bytes: number;
  }> = [];
  let lastRead = 0;
  ws.on('message', (data: Buffer) => {
    const socket = (ws as WebSocket & { _socket: Duplex & { bytesRead: number } })._socket;
    received.push({
      message: JSON.parse(data.toString()),
      wireBytes: socket.bytesRead - lastRead,
      bytes: data.length,
    });
    lastRead = socket.bytesRead;
  });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ t: 'hello' }));
  await until(() => received.some((r) => r.message.t === 'joined'), 2_000, 'joined');
  return { ws, received };
}

describe('compression', () => {
  it('is off by default', async () => {
    const server = await node();
    const { ws } = await rawClient(server.url);
    expect(ws.extensions).toBe('');
  });

  it('negotiates permessage-deflate and compresses frames from the threshold up; data arrives intact', async () => {
    const server = await node({ compression: { threshold: 1024 } });
    const { ws, received } = await rawClient(server.url);
    expect(ws.extensions).toContain('permessage-deflate');
    const big = snapshot(1);
    const small = { driver: 'driver:7', lat: 52.520008, lng: 13.404954 };
    // One at a time, so that each arrives in its own socket read and its bytes can be counted.
    await server.tether.to('dash').emit('snapshot', big);
    await until(() => received.some((r) => r.message.e === 'snapshot'), 2_000, 'snapshot');
    await server.tether.to('dash').emit('location', small);
    await until(() => received.some((r) => r.message.e === 'location'), 2_000, 'both messages');
    const bigFrame = received.find((r) => r.message.e === 'snapshot')!;
    const smallFrame = received.find((r) => r.message.e === 'location')!;
    expect(bigFrame.message.d).toEqual(big);
    expect(smallFrame.message.d).toEqual(small);
    expect(bigFrame.bytes).toBeGreaterThan(9_000);
    // The snapshot travels compressed; the location (under the threshold) as it is, plus its header.
    expect(bigFrame.wireBytes).toBeLessThan(bigFrame.bytes / 3);
    expect(smallFrame.wireBytes).toBeGreaterThanOrEqual(smallFrame.bytes);
  });

  it('works with the Tether client, both ways, in JSON and msgpack', async () => {
    const server = await node({ compression: true });
    for (const codec of [undefined, msgpackCodec]) {
      const client = server.client(codec ? { codec } : {});
      const room = await client.join('dash');
      const got: unknown[] = [];
      room.on('snapshot', (d) => got.push(d));
      for (let i = 0; i < 5; i++) await server.tether.to('dash').emit('snapshot', snapshot(i));
      await until(() => got.length === 5, 3_000, 'snapshots');
      expect(got).toEqual([0, 1, 2, 3, 4].map(snapshot));
      // The Node client compresses what it sends when the server agreed to.
      await expect(client.request('echo', snapshot(9))).resolves.toEqual(snapshot(9));
      client.close();
    }
  });
});
