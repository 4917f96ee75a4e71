import { connect } from 'node:net';
import { TcpProxy } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { TetherServerOptions } from '../src/index.js';
import { encodePositions } from '../src/transports/sse-native.js';
import { startNode, type TestNode, until } from './harness.js';
import { type EventSourceMessage, errorOf, openStream, type RawStream } from './sse-helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(options: TetherServerOptions = {}): Promise<TestNode> {
  const started = await startNode({ authorizeJoin: (_conn, room) => room !== 'secret', ...options });
  cleanups.push(() => started.close());
  return started;
}

/** Opens `GET {path}/events` like a browser's EventSource would. */
async function eventSource(
  base: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<RawStream> {
  const stream = await openStream(`${base}/events?${query}`, headers);
  cleanups.push(() => stream.close());
  return stream;
}

const appEvents = (stream: RawStream): EventSourceMessage[] =>
  stream.events.filter((e) => !e.event?.startsWith('tether:'));

describe('plain EventSource endpoint', () => {
  it('streams room messages as named events whose data is the JSON of the emitted data', async () => {
    const server = await node({
      authenticate: (req) => ({ user: /user=(\w+)/.exec(req.headers.cookie ?? '')?.[1] }),
    });
    const joined: Array<[string, unknown]> = [];
    server.tether.on('connection', (conn) => {
      joined.push([conn.transport, conn.data]);
      conn.emit('hello', { direct: true });
    });
    const es = await eventSource(server.url, 'room=metrics&room=orders', { cookie: 'user=ann' });
    expect(es.response.status).toBe(200);
    expect(es.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const ready = await es.next((e) => e.event === 'tether:ready');
    expect(JSON.parse(ready.data)).toEqual({ rooms: ['metrics', 'orders'] });
    expect(joined).toEqual([['sse', { user: 'ann' }]]);

    await server.tether.to('metrics').emit('tick', { cpu: 0.5 });
    await server.tether.to('orders').emit('created', 'order-1');
    await server.tether.to('metrics').emit('tick', null);
    await until(() => appEvents(es).length === 3, 2_000, 'three events');
    expect(appEvents(es).map((e) => [e.event, JSON.parse(e.data)])).toEqual([
      ['tick', { cpu: 0.5 }],
      ['created', 'order-1'],
      ['tick', null],
    ]);
    expect(appEvents(es).every((e) => typeof e.id === 'string' && e.id.length > 0)).toBe(true);
    // The direct emit before the stream started is not replayed; one after it arrives without an id.
    const conn = [...server.tether.connections.values()][0]!;
    conn.emit('hello', { direct: 2 });
    const direct = await es.next((e) => e.event === 'hello');
    expect(JSON.parse(direct.data)).toEqual({ direct: 2 });
    expect(direct.id).toBeUndefined();
  });

  it('answers 403 with the JSON error when authorizeJoin refuses one of the rooms', async () => {
    const server = await node();
    const closes: string[] = [];
    server.tether.on('connection', (conn) => conn.on('close', (reason) => closes.push(reason)));
    const refused = await eventSource(server.url, 'room=public&room=secret');
    expect(refused.response.status).toBe(403);
    const error = await errorOf(refused.response);
    expect(error.code).toBe('JOIN_REFUSED');
    expect(error.message).toContain('secret');
    await until(() => closes.length === 1, 2_000, 'the connection to close');
    expect(server.tether.connections.size).toBe(0);
    expect(server.tether.metrics().rooms).toBe(0);
  });

  it('answers 400 for an invalid room or none, and 401 when authenticate refuses', async () => {
    const server = await node({ authenticate: (req) => (req.headers.cookie === 'ok' ? {} : null) });
    const invalid = await eventSource(server.url, 'room=a%20b', { cookie: 'ok' });
    expect(invalid.response.status).toBe(400);
    expect((await errorOf(invalid.response)).code).toBe('INVALID_ROOM');
    const none = await eventSource(server.url, '', { cookie: 'ok' });
    expect(none.response.status).toBe(400);
    const anonymous = await eventSource(server.url, 'room=a');
    expect(anonymous.response.status).toBe(401);
    expect((await errorOf(anonymous.response)).code).toBe('UNAUTHORIZED');
  });

  it('refuses a page of another site with 403 FORBIDDEN (allowedOrigins defaults to same-origin)', async () => {
    const server = await node({ authenticate: () => ({ user: 'from-cookie' }) });
    const host = new URL(server.url).host;
    const foreign = await eventSource(server.url, 'room=a', { origin: 'https://evil.example' });
    expect(foreign.response.status).toBe(403);
    expect((await errorOf(foreign.response)).code).toBe('FORBIDDEN');
    const same = await eventSource(server.url, 'room=a', { origin: `http://${host}` });
    expect(same.response.status).toBe(200);
  });

  it('resumes every room from Last-Event-ID after a cut: missed messages once, in order, then live ones', async () => {
    const server = await node();
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: server.port } });
    cleanups.push(() => proxy.close());
    const base = proxy.url('/tether');
    const first = await eventSource(base, 'room=a&room=b');
    await first.next((e) => e.event === 'tether:ready');
    await server.tether.to('a').emit('n', 'a1');
    await server.tether.to('b').emit('n', 'b1');
    await server.tether.to('a').emit('n', 'a2');
    await until(() => appEvents(first).length === 3, 2_000, 'first events');
    const lastId = appEvents(first).at(-1)!.id!;

    proxy.cut();
    await first.ended;
    await until(() => server.tether.connections.size === 0, 2_000, 'the server to see the cut');
    await server.tether.to('a').emit('n', 'a3');
    await server.tether.to('b').emit('n', 'b2');
    await server.tether.to('a').emit('n', 'a4');

    // What the browser does by itself: reconnect to the same URL with the last id it saw.
    const second = await eventSource(base, 'room=a&room=b', { 'last-event-id': lastId });
    await second.next((e) => e.event === 'tether:ready');
    await server.tether.to('b').emit('n', 'b3');
    await until(() => appEvents(second).length === 4, 2_000, 'missed and live events');
    const data = appEvents(second).map((e) => JSON.parse(e.data) as string);
    expect(data.filter((d) => d.startsWith('a'))).toEqual(['a3', 'a4']);
    expect(data.filter((d) => d.startsWith('b'))).toEqual(['b2', 'b3']);
    expect(data.at(-1)).toBe('b3');
    expect(second.events.some((e) => e.event === 'tether:recovery-failed')).toBe(false);

    // The id of the last event carries both rooms' positions: a third connection has nothing to catch up.
    const third = await eventSource(base, 'room=a&room=b', {
      'last-event-id': appEvents(second).at(-1)!.id!,
    });
    await third.next((e) => e.event === 'tether:ready');
    // Anything it had to catch up on would come before a live event of the same room.
    await server.tether.to('a').emit('n', 'a-fence');
    await third.next((e) => e.event === 'n' && JSON.parse(e.data) === 'a-fence');
    expect(appEvents(third).map((e) => JSON.parse(e.data) as string)).toEqual(['a-fence']);
  });

  it('sends tether:recovery-failed for a room whose position history no longer reaches', async () => {
    const server = await node();
    await server.tether.to('a').emit('n', 1);
    const stale = encodePositions(new Map([['a', ['another-epoch', 1] as const]]));
    const es = await eventSource(server.url, 'room=a', { 'last-event-id': stale });
    const failed = await es.next((e) => e.event === 'tether:recovery-failed');
    expect(JSON.parse(failed.data)).toEqual({ room: 'a' });
    await es.next((e) => e.event === 'tether:ready');
    await server.tether.to('a').emit('n', 2);
    await until(() => appEvents(es).length === 1, 2_000, 'the live event');
    expect(JSON.parse(appEvents(es)[0]!.data)).toBe(2);
  });

  it('ignores a malformed Last-Event-ID and starts from now', async () => {
    const server = await node();
    await server.tether.to('a').emit('n', 1);
    const es = await eventSource(server.url, 'room=a', { 'last-event-id': 'garbage!' });
    await es.next((e) => e.event === 'tether:ready');
    await server.tether.to('a').emit('n', 2);
    await until(() => appEvents(es).length === 1, 2_000, 'the live event');
    expect(JSON.parse(appEvents(es)[0]!.data)).toBe(2);
  });

  it('stays open across heartbeat periods although an EventSource never answers', async () => {
    // A silent client would be dropped after 240 ms; the timeout leaves room for a loaded machine.
    const server = await node({ heartbeat: { intervalMs: 40, timeoutMs: 200 } });
    const es = await eventSource(server.url, 'room=a');
    await es.next((e) => e.event === 'tether:ready');
    // Nothing else is sent on this stream: every frame out from here on is a ping.
    const sentBefore = server.tether.metrics().messages.out;
    await until(() => server.tether.metrics().messages.out - sentBefore >= 12, 5_000, '12 pings');
    expect(server.tether.connections.size).toBe(1);
    await server.tether.to('a').emit('n', 'still here');
    await until(() => appEvents(es).length === 1, 2_000, 'the event');
  });

  it('gzips the stream when the request accepts it, and events still arrive one by one', async () => {
    const server = await node();
    const es = await eventSource(server.url, 'room=a', { 'accept-encoding': 'gzip' });
    expect(es.response.headers.get('content-encoding')).toBe('gzip');
    await es.next((e) => e.event === 'tether:ready');
    for (let i = 1; i <= 5; i++) {
      await server.tether.to('a').emit('n', i);
      await until(() => appEvents(es).length === i, 2_000, `event ${i}`);
    }
    expect(appEvents(es).map((e) => JSON.parse(e.data))).toEqual([1, 2, 3, 4, 5]);
    const plain = await eventSource(server.url, 'room=a', { 'accept-encoding': 'identity' });
    expect(plain.response.headers.get('content-encoding')).toBeNull();
  });

  it('closes a reader that stopped reading (4009), as on WebSocket', async () => {
    const server = await node({ maxBufferedBytes: 16 * 1024 });
    const closes: number[] = [];
    server.tether.on('connection', (conn) => conn.on('close', (_reason, code) => closes.push(code)));
    // A client that sends its request and then never reads a byte.
    const socket = connect(server.port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    socket.on('error', () => {});
    socket.pause();
    socket.write('GET /tether/events?room=a HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await until(() => server.tether.metrics().rooms === 1, 2_000, 'the join');
    const big = 'x'.repeat(64 * 1024);
    // Loopback socket buffers hold a few MB: publish until the server gives up on the reader.
    for (let i = 0; i < 400 && closes.length === 0; i++) await server.tether.to('a').emit('n', big);
    await until(() => closes.length === 1, 5_000, 'the slow-consumer close');
    expect(closes).toEqual([4009]);
    expect(server.tether.metrics().drops.slowConsumerCloses).toBe(1);
  });

  it('ends the stream with tether:close and a retry hint when the server closes', async () => {
    const server = await node({ reconnectSpreadMs: 1_000 });
    const es = await eventSource(server.url, 'room=a');
    await es.next((e) => e.event === 'tether:ready');
    await server.tether.close();
    await es.ended;
    const closed = es.events.find((e) => e.event === 'tether:close');
    expect(JSON.parse(closed!.data)).toEqual({ code: 4503, reason: 'server is shutting down' });
  });
});

describe('room count on the plain EventSource endpoint', () => {
  it('refuses more rooms than maxRoomsPerConnection up front with 400 TOO_MANY_ROOMS', async () => {
    const server = await startNode({ authorizeJoin: () => true, maxRoomsPerConnection: 3 });
    try {
      const res = await fetch(`${server.url}/events?room=a&room=b&room=c&room=d`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_ROOMS');
    } finally {
      await server.close();
    }
  });
});
