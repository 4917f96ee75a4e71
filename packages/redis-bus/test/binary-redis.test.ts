import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { msgpackCodec } from '@tether/client/msgpack';
import { TetherServer } from '@tether/server';
import { RedisServer, waitFor } from '@tether/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

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
  for (const node of nodes.splice(0)) {
    await node.tether.close();
    node.http.closeAllConnections();
    await new Promise<void>((resolve) => node.http.close(() => resolve()));
  }
});

async function startNode(keyPrefix: string): Promise<Node> {
  const http = createServer((_req, res) => res.end('app'));
  const bus = new RedisBus({ url: redis.url, keyPrefix });
  const tether = new TetherServer({ server: http, bus, authorizeJoin: () => true });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const node = { http, tether, bus, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether` };
  nodes.push(node);
  await waitFor(() => bus.status === 'up', { timeout: 5000, message: 'bus of a new node never came up' });
  return node;
}

const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
const at = new Date('2026-12-05T12:34:56.789Z');

describe('bytes and dates through RedisBus', () => {
  it('reach a msgpack client on another node as bytes and dates, live and in history', async () => {
    const keyPrefix = `b${randomUUID().slice(0, 6)}:`;
    const [publisher, other] = [await startNode(keyPrefix), await startNode(keyPrefix)];
    const room = `files:${randomUUID().slice(0, 8)}`;
    const live = new TetherClient(other.url, { codec: msgpackCodec });
    clients.push(live);
    const handle = await live.join(room);
    const got: Array<{ bytes: Uint8Array; at: Date }> = [];
    handle.on('chunk', (data) => got.push(data as { bytes: Uint8Array; at: Date }));
    await publisher.tether.to(room).emit('chunk', { bytes, at });
    await waitFor(() => got.length === 1, { message: 'the live chunk never arrived' });
    expect(new Uint8Array(got[0]!.bytes)).toEqual(bytes);
    expect(got[0]!.at).toBeInstanceOf(Date);
    expect(got[0]!.at.getTime()).toBe(at.getTime());

    // History, which recovery reads after a reconnect, keeps them too.
    const { epoch } = await publisher.bus.history(room, undefined, 0);
    const history = await publisher.bus.history(room, { epoch, offset: 0 }, 10);
    expect(history.messages).toHaveLength(1);
    const stored = history.messages[0]!.data as { bytes: Uint8Array; at: Date };
    expect(new Uint8Array(stored.bytes)).toEqual(bytes);
    expect(stored.at.getTime()).toBe(at.getTime());
  });
});
