import { TetherClient } from '@tether/client';
import type { RoomMessage } from '@tether/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { CloseCode, type TetherServerOptions } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';
import { congest, type RawClient, rawClient, stallProxy } from './slow-reader.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(options: TetherServerOptions = {}): Promise<TestNode> {
  const started = await startNode({ maxBufferedBytes: 8 * 1024 * 1024, ...options });
  cleanups.push(() => started.close());
  return started;
}

/** A raw client that the server joined to `room`, its server connection, and a congested socket. */
async function slowMember(server: TestNode, room: string) {
  server.tether.on('connection', (conn) => void conn.join(room));
  const raw = await rawClient(server.url);
  cleanups.push(() => raw.close());
  await until(() => raw.messages.some((m) => m.t === 'joined'), 2_000, 'server-side join');
  const conn = server.tether.connections.get(raw.connId)!;
  raw.pause();
  await congest(conn);
  return { raw, conn };
}

const roomMessages = (raw: RawClient, event?: string) =>
  raw.messages.filter((m): m is RoomMessage => m.t === 'msg' && (event === undefined || m.e === event));

describe('conflation', () => {
  it('gives a slow reader the newest value per key instead of the backlog', async () => {
    const server = await node();
    const { raw } = await slowMember(server, 'fleet');
    for (let n = 0; n < 50; n++) {
      await server.tether.to('fleet').emit('location', { driver: 7, n }, { conflate: 'driver:7' });
      await server.tether.to('fleet').emit('location', { driver: 8, n }, { conflate: 'driver:8' });
      if (n === 10) await server.tether.to('fleet').emit('chat', { text: 'hi' });
    }
    await server.tether.to('fleet').emit('end', null);
    raw.resume();
    await until(() => roomMessages(raw, 'end').length === 1, 10_000, 'the last message');

    const locations = roomMessages(raw, 'location');
    expect(locations.map((m) => m.d)).toEqual([
      { driver: 7, n: 49 },
      { driver: 8, n: 49 },
    ]);
    expect(locations.map((m) => m.k)).toEqual(['driver:7', 'driver:8']);
    // They took the places of values queued before the chat, so they overtook it and say so.
    expect(locations.every((m) => m.o === 1)).toBe(true);
    expect(roomMessages(raw, 'chat').map((m) => m.d)).toEqual([{ text: 'hi' }]);
    expect(roomMessages(raw, 'chat')[0]!.o).toBeUndefined();
    // In-order frames after replaced or overtaking values name the offset before them (p), so
    // the client takes the skip as intended instead of resuming the room.
    const chat = roomMessages(raw, 'chat')[0]!;
    expect(chat.p).toBe(0);
    expect(roomMessages(raw, 'end')[0]!.p).toBe(chat.off);
    // Every message stays in history: a client recovering from it sees them all.
    const { epoch } = await server.tether.bus.history('fleet', undefined, 0);
    const page = await server.tether.bus.history('fleet', { epoch, offset: 0 }, 1_000);
    expect(page.messages.filter((m) => m.event === 'location').length).toBeGreaterThan(2);
  });

  it('conflates direct emits per event and key, and `true` keeps one value per event', async () => {
    const server = await node();
    const { raw, conn } = await slowMember(server, 'fleet');
    for (let n = 0; n < 20; n++) {
      conn.emit('progress', n, { conflate: true });
      conn.emit('job', { id: 'a', n }, { conflate: 'a' });
      conn.emit('job', { id: 'b', n }, { conflate: 'b' });
    }
    conn.emit('end', null);
    raw.resume();
    await until(() => raw.messages.some((m) => m.t === 'evt' && m.e === 'end'), 10_000, 'the last event');
    const events = raw.messages.filter((m) => m.t === 'evt' && m.e !== 'filler' && m.e !== 'probe');
    expect(events.map((m) => [(m as { e: string }).e, (m as { d: unknown }).d])).toEqual([
      ['progress', 19],
      ['job', { id: 'a', n: 19 }],
      ['job', { id: 'b', n: 19 }],
      ['end', null],
    ]);
  });
});

describe('volatile', () => {
  it('drops volatile messages for a congested reader while durable ones wait, in order', async () => {
    const server = await node();
    const { raw, conn } = await slowMember(server, 'chat');
    const dropsBefore = server.tether.metrics().drops.volatile;
    for (let i = 0; i < 5; i++) {
      await server.tether.to('chat').emit('typing', { i }, { volatile: true });
      expect(conn.emit('cursor', { i }, { volatile: true })).toBe(false);
      await server.tether.to('chat').emit('message', { i });
    }
    raw.resume();
    await until(() => roomMessages(raw, 'message').length === 5, 10_000, 'durable messages');
    expect(roomMessages(raw, 'message').map((m) => (m.d as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(roomMessages(raw, 'typing')).toEqual([]);
    expect(raw.messages.filter((m) => m.t === 'evt' && m.e === 'cursor')).toEqual([]);
    expect(server.tether.metrics().drops.volatile - dropsBefore).toBe(10);
    // Volatile broadcasts reach readers that keep up.
    const fast = server.client();
    await waitForState(fast, 'open');
    const typing: unknown[] = [];
    fast.on('typing', (d) => typing.push(d));
    await until(
      () => server.tether.connections.get(fast.connectionId!)?.rooms.has('chat') === true,
      2_000,
      'join',
    );
    await server.tether.to('chat').emit('typing', { i: 9 }, { volatile: true });
    await until(() => typing.length === 1, 2_000, 'volatile message');
  });

  it('drops a client volatile emit while its socket is backed up, and never buffers it offline', async () => {
    // A stand-in server that welcomes the client and then stops reading.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'tether.v1.json' });
    await new Promise((resolve) => wss.once('listening', resolve));
    cleanups.push(() => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const received: string[] = [];
    wss.on('connection', (ws: WebSocket) => {
      ws.once('message', () => {
        ws.send(
          JSON.stringify({
            t: 'welcome',
            sid: 's',
            sk: 'k',
            cid: 'c',
            rs: 0,
            hb: [60_000, 60_000],
            mp: 1 << 26,
          }),
        );
        ws.on('message', (data) => received.push(JSON.parse(data.toString()).e));
        (ws as WebSocket & { _socket: { pause(): void } })._socket.pause();
      });
    });
    const port = (wss.address() as { port: number }).port;
    const client = new TetherClient(`http://127.0.0.1:${port}/tether`, { reconnect: false });
    cleanups.push(() => client.close());
    expect(client.emit('typing', {}, { volatile: true })).toBe(false); // not open yet: dropped, not buffered
    await waitForState(client, 'open');
    expect(client.emit('typing', {}, { volatile: true })).toBe(true);
    const big = 'x'.repeat(256 * 1024);
    let volatileSent = true;
    for (let i = 0; i < 200 && volatileSent; i++) {
      client.emit('upload', big);
      await new Promise((resolve) => setImmediate(resolve));
      volatileSent = client.emit('typing', {}, { volatile: true });
    }
    expect(volatileSent).toBe(false);
  });
});

describe('the outgoing queue is bounded', () => {
  it('closes a reader that stays slow with 4009; the client recovers the rest from history', async () => {
    const server = await node({
      maxBufferedBytes: 256 * 1024,
      history: { size: 10_000, ttlMs: 60_000 },
      authorizeJoin: () => true,
    });
    const proxy = await stallProxy(server.port);
    cleanups.push(() => proxy.close());
    const viaProxy = new TetherClient(proxy.url, { reconnect: { initialDelay: 50, maxDelay: 200 } });
    cleanups.push(() => viaProxy.close());
    const room = await viaProxy.join('feed');
    const got: number[] = [];
    room.on('n', (d) => got.push(d as number));
    const closes: number[] = [];
    server.tether.connections.get(viaProxy.connectionId!)!.on('close', (_r, code) => closes.push(code));
    proxy.stall();
    await congest(server.tether.connections.get(viaProxy.connectionId!)!);
    const chunk = 'y'.repeat(16 * 1024);
    let n = 0;
    while (server.tether.metrics().drops.slowConsumerCloses === 0 && n < 2_000) {
      await server.tether.to('feed').emit('n', n++);
      await server.tether.to('feed').emit('pad', chunk);
    }
    expect(server.tether.metrics().drops.slowConsumerCloses).toBe(1);
    for (let i = 0; i < 5; i++) await server.tether.to('feed').emit('n', n++);
    proxy.release();
    await until(() => got.length === n, 15_000, 'every message after recovery');
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(closes).toEqual([CloseCode.SlowConsumer]);
    expect(room.recovered).toBe(true);
  });
});
