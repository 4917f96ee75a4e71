import { msgpackCodec } from '@tether/client/msgpack';
import { jsonCodec } from '@tether/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { TetherServerOptions } from '../src/index.js';
import { startNode, type TestNode, until } from './harness.js';

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

async function node(options: TetherServerOptions = {}) {
  const started = await startNode({ authorizeJoin: () => true, ...options });
  nodes.push(started);
  return started;
}

/** The subprotocol the server picks for an offer, or the HTTP status it refuses with. */
function handshake(url: string, offer: string[]): Promise<string | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), offer);
    ws.on('open', () => {
      resolve(ws.protocol);
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {});
  });
}

const PAYLOADS: Record<string, unknown> = {
  chat: {
    id: 'm_0k3x9',
    user: { id: 'u42', name: 'Ada Lövelace 👩‍💻' },
    text: 'Running late, save me a seat!',
    ts: 1718000000000,
  },
  location: { driver: 'driver:7', lat: 52.520008, lng: 13.404954, heading: 87, ts: 1718000000250 },
  numbers: { int: -7, big: 2 ** 40, float: 0.1 + 0.2, zero: 0, list: [1, 2.5, -3], none: null, flag: false },
  nested: { a: [{ b: [{ c: 'deep' }] }], empty: {}, emptyList: [] },
};

describe('msgpack', () => {
  it('is negotiated by the order the client offers', async () => {
    const server = await node();
    expect(await handshake(server.url, ['tether.v1.msgpack', 'tether.v1.json'])).toBe('tether.v1.msgpack');
    expect(await handshake(server.url, ['tether.v1.json', 'tether.v1.msgpack'])).toBe('tether.v1.json');
    expect(await handshake(server.url, ['tether.v1.msgpack'])).toBe('tether.v1.msgpack');
    const jsonOnly = await node({ codecs: [jsonCodec] });
    expect(await handshake(jsonOnly.url, ['tether.v1.msgpack'])).toBe(400);
    expect(await handshake(jsonOnly.url, ['tether.v1.msgpack', 'tether.v1.json'])).toBe('tether.v1.json');
  });

  it('delivers the same data to msgpack and JSON clients in one room', async () => {
    const server = await node();
    server.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const packed = server.client({ codec: msgpackCodec });
    const plain = server.client();
    const rooms = await Promise.all([packed.join('mixed'), plain.join('mixed')]);
    const got: Array<Array<[string, unknown]>> = [[], []];
    rooms.forEach((room, i) => {
      for (const event of Object.keys(PAYLOADS)) room.on(event, (d) => got[i]!.push([event, d]));
    });
    for (const [event, data] of Object.entries(PAYLOADS)) await server.tether.to('mixed').emit(event, data);
    const expected = Object.entries(PAYLOADS);
    await until(
      () => got[0]!.length === expected.length && got[1]!.length === expected.length,
      3_000,
      'both',
    );
    expect(got[0]).toEqual(expected);
    expect(got[1]).toEqual(expected);
    // Both ways, with a reply, and presence over msgpack.
    await expect(packed.request('echo', PAYLOADS.nested)).resolves.toEqual(PAYLOADS.nested);
    expect((await rooms[0]!.presence()).map((m) => m.connId).sort()).toEqual(
      [packed.connectionId, plain.connectionId].sort(),
    );
    expect(server.tether.connections.get(packed.connectionId!)!.codec).toBe(msgpackCodec);
  });

  it('puts fewer bytes on the wire than JSON for the example payloads', async () => {
    const server = await node();
    server.tether.on('connection', (conn) => void conn.join('sizes'));
    /** Per subprotocol: the size of each room message frame received, by event. */
    const sizes: Record<string, Record<string, number>> = {};
    const sockets = await Promise.all(
      ['tether.v1.json', 'tether.v1.msgpack'].map(
        (protocol) =>
          new Promise<WebSocket>((resolve) => {
            const ws = new WebSocket(server.url.replace(/^http/, 'ws'), [protocol]);
            const codec = protocol.endsWith('json') ? jsonCodec : msgpackCodec;
            sizes[protocol] = {};
            ws.on('message', (data: Buffer, binary: boolean) => {
              const message = codec.decode(binary ? data : data.toString());
              if (message.t === 'msg') sizes[protocol]![message.e] = data.length;
            });
            ws.on('open', () => {
              ws.send(
                protocol.endsWith('json')
                  ? jsonCodec.encode({ t: 'hello' })
                  : msgpackCodec.encode({ t: 'hello' }),
              );
              resolve(ws);
            });
          }),
      ),
    );
    const joined = () => [...server.tether.connections.values()].filter((c) => c.rooms.has('sizes')).length;
    await until(() => joined() === 2, 2_000, 'joins');
    await server.tether.to('sizes').emit('location', PAYLOADS.location);
    const sizeOf = (protocol: string) => sizes[protocol]!.location;
    await until(
      () => sizeOf('tether.v1.json') !== undefined && sizeOf('tether.v1.msgpack') !== undefined,
      2_000,
      'frames',
    );
    const jsonBytes = sizeOf('tether.v1.json')!;
    const msgpackBytes = sizeOf('tether.v1.msgpack')!;
    expect(msgpackBytes).toBeLessThan(jsonBytes * 0.85);
    for (const ws of sockets) ws.terminate();
  });
});
