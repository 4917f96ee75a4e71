import { TetherClient } from '@tether/client';
import { TcpProxy, trackHandles } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, TetherError } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';
import { errorOf, openSession, openStream, twoNodesBehindRoundRobin } from './sse-helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(options: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  const started = await startNode(options);
  cleanups.push(() => started.close());
  return started;
}

function client(url: string, options: ConstructorParameters<typeof TetherClient>[1] = {}): TetherClient {
  const c = new TetherClient(url, { reconnect: { initialDelay: 50, maxDelay: 200 }, ...options });
  cleanups.push(() => c.close());
  return c;
}

async function proxyTo(target: TestNode): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: target.port } });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('fallback from WebSocket to SSE', () => {
  it('opens over SSE within a few seconds when a proxy blocks upgrades, and requests work', async () => {
    const server = await node();
    server.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const proxy = await proxyTo(server);
    proxy.blockUpgrades(true);
    const c = client(proxy.url('/tether'));
    // API.md promises open over SSE within 10 s when upgrades are blocked.
    await waitForState(c, 'open', 10_000);
    expect(c.transport).toBe('sse');
    await expect(c.request('echo', { a: 1 })).resolves.toEqual({ a: 1 });
  });

  it('moves from WebSocket to SSE when upgrades get blocked mid-session, keeping the session and its rooms', async () => {
    const server = await node({ authorizeJoin: () => true });
    const proxy = await proxyTo(server);
    const c = client(proxy.url('/tether'));
    const room = await c.join('feed');
    expect(c.transport).toBe('websocket');
    const session = c.sessionId;
    const got: number[] = [];
    room.on('item', (d) => got.push(d as number));
    await server.tether.to('feed').emit('item', 1);
    await until(() => got.length === 1, 2_000, 'first item');
    proxy.blockUpgrades(true); // also resets the open WebSocket
    await waitForState(c, 'reconnecting');
    await server.tether.to('feed').emit('item', 2);
    await waitForState(c, 'open', 5_000);
    expect(c.transport).toBe('sse');
    expect(c.sessionId).toBe(session);
    await server.tether.to('feed').emit('item', 3);
    await until(() => got.length === 3, 3_000, 'every item');
    expect(got).toEqual([1, 2, 3]);
  });
});

describe('no sticky sessions', () => {
  it('answers requests and delivers rooms when streams and POSTs land on different nodes (MemoryBus)', async () => {
    const bus = new MemoryBus();
    await twoNodesBehindRoundRobin(
      () => bus,
      () => bus.close(),
    );
  });
});

describe('POST endpoint', () => {
  it('refuses an oversize body with 413 PAYLOAD_TOO_LARGE and the session keeps working', async () => {
    const server = await node({ maxPayload: 2_048 });
    server.tether.on('connection', (conn) => conn.on('add', (d) => (d as number) + 1));
    const session = await openSession(server.url);
    cleanups.push(() => session.close());
    expect((await session.post('{"t":"hello"}')).status).toBe(204);
    await until(() => session.messages().some((m) => m.t === 'welcome'), 2_000, 'welcome');
    const tooBig = await session.post(`{"t":"evt","e":"x","d":"${'a'.repeat(3_000)}"}`);
    expect(tooBig.status).toBe(413);
    expect((await errorOf(tooBig)).code).toBe('PAYLOAD_TOO_LARGE');
    expect((await session.post('{"t":"req","id":"r1","e":"add","d":41}')).status).toBe(204);
    await until(() => session.messages().some((m) => m.t === 'res' && m.id === 'r1'), 2_000, 'the reply');
    expect(session.messages().find((m) => m.id === 'r1')).toEqual({ t: 'res', id: 'r1', d: 42 });
  });

  it('refuses a bad body whole with 400 BAD_MESSAGE and the session keeps working', async () => {
    const server = await node();
    const seen: unknown[] = [];
    server.tether.on('connection', (conn) => {
      conn.on('n', (d) => void seen.push(d));
      conn.on('add', (d) => (d as number) + 1);
    });
    const session = await openSession(server.url);
    cleanups.push(() => session.close());
    await session.post('{"t":"hello"}');
    await until(() => session.messages().some((m) => m.t === 'welcome'), 2_000, 'welcome');
    const bad = await session.post('{"t":"evt","e":"n","d":1}\nnot json');
    expect(bad.status).toBe(400);
    const error = await errorOf(bad);
    expect(error.code).toBe('BAD_MESSAGE');
    expect(error.message).toMatch(/^line 2:/);
    const wrongShape = await session.post('{"t":"nope"}');
    expect(wrongShape.status).toBe(400);
    // Two messages in one POST, one per line: both handled, in order.
    expect(
      (await session.post('{"t":"evt","e":"n","d":2}\n{"t":"req","id":"r1","e":"add","d":1}\n')).status,
    ).toBe(204);
    await until(() => session.messages().some((m) => m.id === 'r1'), 2_000, 'the reply');
    expect(seen).toEqual([2]);
    expect(server.tether.connections.size).toBe(1);
  });

  it('answers 404 UNKNOWN_STREAM for a token no stream has, and 410 STREAM_CLOSED once its stream ended', async () => {
    const server = await node();
    const post = (token: string) =>
      fetch(`${server.url}?transport=sse&token=${token}`, { method: 'POST', body: '{"t":"pong"}' });
    const garbage = await post('nonsense');
    expect(garbage.status).toBe(404);
    expect((await errorOf(garbage)).code).toBe('UNKNOWN_STREAM');
    const never = await post(`${server.tether.nodeId}.zz.${'A'.repeat(24)}`);
    expect(never.status).toBe(404);

    const session = await openSession(server.url);
    await session.post('{"t":"hello"}');
    await until(() => server.tether.connections.size === 1, 2_000, 'the connection');
    const [, stream] = session.token.split('.');
    const forged = await post(`${server.tether.nodeId}.${stream}.${'B'.repeat(24)}`);
    expect(forged.status).toBe(404);
    session.close();
    await until(() => server.tether.connections.size === 0, 2_000, 'the server-side close');
    const late = await post(session.token);
    expect(late.status).toBe(410);
    expect((await errorOf(late)).code).toBe('STREAM_CLOSED');
  });

  it('closes the connection on DELETE with the code the client names', async () => {
    const server = await node();
    const closes: Array<[string, number]> = [];
    server.tether.on('connection', (conn) => conn.on('close', (reason, code) => closes.push([reason, code])));
    const session = await openSession(server.url);
    cleanups.push(() => session.close());
    await session.post('{"t":"hello"}');
    await until(() => server.tether.connections.size === 1, 2_000, 'the connection');
    const res = await fetch(`${server.url}?transport=sse&token=${session.token}&code=4008`, {
      method: 'DELETE',
    });
    expect(res.status).toBe(204);
    await session.ended;
    await until(() => closes.length === 1, 2_000, 'the close');
    expect(closes[0]![1]).toBe(4008);
  });
});

describe('stream endpoint', () => {
  it('refuses a client that authenticate refuses with 401 and a JSON body; the client treats it as fatal', async () => {
    const server = await node({
      authenticate: (_req, auth) => ((auth as { ok?: boolean })?.ok ? { id: 1 } : null),
    });
    const raw = await openStream(`${server.url}?transport=sse`);
    expect(raw.response.status).toBe(401);
    expect(await raw.response.json()).toEqual({
      error: { code: 'UNAUTHORIZED', message: 'authentication refused' },
    });

    const c = client(server.url, { transports: ['sse'], auth: { ok: false } });
    const errors: TetherError[] = [];
    c.on('error', (e) => void errors.push(e));
    await waitForState(c, 'closed', 3_000);
    expect(errors[0]).toBeInstanceOf(TetherError);
    expect(errors[0]!.code).toBe('UNAUTHORIZED');

    const ok = client(server.url, { transports: ['sse'], auth: { ok: true } });
    await waitForState(ok, 'open', 3_000);
  });

  it('drops a stream whose client never answers pings', async () => {
    const server = await node({ heartbeat: { intervalMs: 40, timeoutMs: 40 } });
    const reasons: string[] = [];
    server.tether.on('connection', (conn) => conn.on('close', (reason) => reasons.push(reason)));
    const session = await openSession(server.url);
    cleanups.push(() => session.close());
    await session.post('{"t":"hello"}');
    await until(() => reasons.length === 1, 2_000, 'the heartbeat close');
    expect(reasons).toEqual(['heartbeat timeout']);
    await session.ended;
    expect(session.messages().some((m) => m.t === 'ping')).toBe(true);
  });

  it('refuses new streams with 503 while closing, and ends streams that never said hello', async () => {
    const server = await node();
    let release: (() => void) | undefined;
    server.tether.on('connection', (conn) =>
      conn.on('slow', () => new Promise<string>((r) => (release = () => r('done')))),
    );
    const c = client(server.url, { transports: ['sse'] });
    const slow = c.request('slow');
    await until(() => release !== undefined, 2_000, 'the slow request');
    const silent = await openSession(server.url);
    const closing = server.tether.close({ drainMs: 3_000 });
    const refused = await fetch(`${server.url}?transport=sse`);
    expect(refused.status).toBe(503);
    expect((await errorOf(refused)).code).toBe('SERVER_CLOSING');
    release!();
    await expect(slow).resolves.toBe('done');
    await closing;
    await silent.ended;
    expect(server.tether.connections.size).toBe(0);
  });

  it('gzips the client stream when asked to, flushing every event', async () => {
    const server = await node({ sse: { compress: true } });
    server.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const raw = await openStream(`${server.url}?transport=sse`, { 'accept-encoding': 'gzip' });
    cleanups.push(() => raw.close());
    expect(raw.response.headers.get('content-encoding')).toBe('gzip');
    await raw.next((e) => e.event === 'open');
    const c = client(server.url, { transports: ['sse'] });
    await waitForState(c, 'open');
    for (let i = 0; i < 20; i++) await expect(c.request('echo', i)).resolves.toBe(i);
  });

  it('does not gzip the client stream by default', async () => {
    const server = await node();
    const raw = await openStream(`${server.url}?transport=sse`, { 'accept-encoding': 'gzip' });
    cleanups.push(() => raw.close());
    expect(raw.response.headers.get('content-encoding')).toBeNull();
  });

  it('delivers a burst far larger than the socket buffers complete and in order (queue, then drain)', async () => {
    const server = await node({ authorizeJoin: () => true, maxBufferedBytes: 8 * 1024 * 1024 });
    const c = client(server.url, { transports: ['sse'] });
    const room = await c.join('burst');
    const got: number[] = [];
    room.on('n', (d) => void got.push((d as { i: number }).i));
    const pad = 'x'.repeat(8 * 1024);
    await Promise.all(Array.from({ length: 300 }, (_, i) => server.tether.to('burst').emit('n', { i, pad })));
    await until(() => got.length === 300, 10_000, 'every message of the burst');
    expect(got).toEqual([...Array(300).keys()]);
    expect(c.state).toBe('open');
  });

  it('leaves other paths to the app and answers 426 at the endpoint without ?transport=sse', async () => {
    const server = await node();
    expect(await (await fetch(`${server.url.replace('/tether', '/other')}`)).text()).toBe('app');
    const plain = await fetch(server.url);
    expect(plain.status).toBe(426);
    const unknown = await fetch(`${server.url}/nothing`);
    expect(unknown.status).toBe(404);
  });
});

describe('resources', () => {
  it('leaves no socket or timer behind after 200 SSE open/close cycles and close()', async () => {
    const handles = trackHandles();
    const server = await startNode({ heartbeat: { intervalMs: 1_000, timeoutMs: 1_000 } });
    let closes = 0;
    server.tether.on('connection', (conn) => conn.on('close', () => closes++));
    for (let batch = 0; batch < 10; batch++) {
      const clients = Array.from({ length: 20 }, () => new TetherClient(server.url, { transports: ['sse'] }));
      await Promise.all(clients.map((c) => waitForState(c, 'open')));
      for (const c of clients) c.close();
    }
    await until(() => closes === 200, 10_000, 'every server-side close');
    expect(server.tether.connections.size).toBe(0);
    await server.close();
    await handles.check(3_000);
  }, 60_000);
});
