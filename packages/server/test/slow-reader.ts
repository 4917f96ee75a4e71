import { connect, createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Message, PROTOCOL_VERSION } from '@tether/protocol';
import { waitFor } from '@tether/test-utils';
import { WebSocket } from 'ws';
import type { Connection } from '../src/index.js';

/**
 * Helpers for tests of congested connections: a raw WebSocket client that can stop reading, a
 * proxy that can stall a real client, and a way to fill a connection's socket buffers.
 */

/** A bare protocol client: says hello, records every message, can stop reading its socket. */
export interface RawClient {
  readonly ws: WebSocket;
  readonly messages: Message[];
  readonly connId: string;
  /** Stops reading: the server's socket buffers fill up. */
  pause(): void;
  resume(): void;
  close(): void;
}

export async function rawClient(url: string, subprotocol = 'tether.v1.json'): Promise<RawClient> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [subprotocol]);
  const messages: Message[] = [];
  ws.on('message', (data, binary) => {
    if (!binary) messages.push(JSON.parse(data.toString()) as Message);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ t: 'hello' }));
  const welcome = (await waitFor(() => messages.find((m) => m.t === 'welcome'), {
    timeout: 5_000,
    interval: 5,
    message: `no welcome (protocol v${PROTOCOL_VERSION})`,
  })) as Extract<Message, { t: 'welcome' }>;
  const socket = (ws as WebSocket & { _socket: Duplex })._socket;
  return {
    ws,
    messages,
    connId: welcome.cid,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => ws.terminate(),
  };
}

/**
 * Writes 128 KiB frames to `conn` until it reports congestion (a volatile probe is refused, which
 * happens once its socket holds `lowWaterBytes`). The peer must have stopped reading.
 */
export async function congest(conn: Connection): Promise<number> {
  const filler = 'x'.repeat(128 * 1024);
  for (let i = 0; i < 1_000; i++) {
    if (!conn.emit('probe', i, { volatile: true })) return i;
    conn.emit('filler', filler);
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the connection never became congested');
}

/** A loopback TCP proxy whose server-to-client direction can be stalled and released. */
export interface StallProxy {
  readonly url: string;
  stall(): void;
  release(): void;
  close(): Promise<void>;
}

export async function stallProxy(targetPort: number, path = '/tether'): Promise<StallProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let stalled = false;
  const server = createServer((client: Socket) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    if (!stalled) upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    stall() {
      stalled = true;
      for (const { upstream, client } of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    release() {
      stalled = false;
      for (const { upstream, client } of pairs) upstream.pipe(client);
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
