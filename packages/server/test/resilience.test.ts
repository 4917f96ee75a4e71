import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { trackHandles } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CloseCode, MemoryBus, type TetherServer } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

const nodes: TestNode[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const node of nodes.splice(0)) await node.close();
});

async function node(options: Parameters<typeof startNode>[0] = {}, port = 0) {
  const started = await startNode(options, port);
  nodes.push(started);
  return started;
}

function firstConnection(tether: TetherServer) {
  return [...tether.connections.values()][0]!;
}

describe('reconnect', () => {
  it('reconnects after the server closes the connection, rejoins rooms and recovers missed messages', async () => {
    const server = await node({ authorizeJoin: () => true });
    const client = server.client();
    const room = await client.join('feed');
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    const got: number[] = [];
    room.on('item', (d) => got.push(d as number));
    await server.tether.to('feed').emit('item', 1);
    await until(() => got.length === 1, 2_000, 'first item');
    const sessionBefore = client.sessionId;
    firstConnection(server.tether).close(CloseCode.InternalError, 'test drop');
    await waitForState(client, 'reconnecting');
    // Published while the client is away: must arrive after the rejoin, in order, once.
    await server.tether.to('feed').emit('item', 2);
    await server.tether.to('feed').emit('item', 3);
    await waitForState(client, 'open');
    await server.tether.to('feed').emit('item', 4);
    await until(() => got.length === 4, 3_000, 'all items');
    expect(got).toEqual([1, 2, 3, 4]);
    expect(client.sessionId).toBe(sessionBefore);
    expect(states).toEqual(['reconnecting', 'open']);
    expect(room.recovered).toBe(true);
  });

  it('reconnects after a server restart on the same port; the room handle keeps its listeners and reports a failed recovery', async () => {
    const bus = new MemoryBus();
    const first = await startNode({ authorizeJoin: () => true, bus, reconnectSpreadMs: 300 });
    const port = first.port;
    const client = new TetherClient(first.url, { reconnect: { initialDelay: 50, maxDelay: 200 } });
    cleanups.push(() => client.close());
    const room = await client.join('feed');
    const got: string[] = [];
    const rejoins: boolean[] = [];
    room.on('item', (d) => got.push(d as string));
    room.on('tether:rejoined', ({ recovered }) => rejoins.push(recovered));
    await first.tether.to('feed').emit('item', 'before');
    await until(() => got.length === 1, 2_000, 'first item');
    await first.close();
    await bus.close();
    // A new process: new bus, new history lineage (epoch): recovery cannot be promised.
    const second = await node({ authorizeJoin: () => true }, port);
    await waitForState(client, 'open', 5_000);
    await until(() => rejoins.length === 1, 2_000, 'rejoin');
    expect(rejoins).toEqual([false]);
    await second.tether.to('feed').emit('item', 'after');
    await until(() => got.length === 2, 2_000, 'item after restart');
    expect(got).toEqual(['before', 'after']);
  });

  it('flushes emits buffered while offline, in order', async () => {
    const server = await node();
    const seen: number[] = [];
    server.tether.on('connection', (conn) => conn.on('n', (d) => void seen.push(d as number)));
    const client = server.client();
    await waitForState(client, 'open');
    firstConnection(server.tether).close(CloseCode.InternalError, 'test drop');
    await waitForState(client, 'reconnecting');
    for (let i = 1; i <= 20; i++) client.emit('n', i);
    expect(client.emit('n', 99, { volatile: true })).toBe(false);
    await waitForState(client, 'open');
    await until(() => seen.length === 20, 3_000, 'flushed emits');
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('stays closed with reconnect: false', async () => {
    const server = await node();
    const client = server.client({ reconnect: false });
    // A control client dropped at the same moment, reconnecting after 200 ms exactly: once it is
    // back, a reconnect on this node's usual schedule (50 to 200 ms) would have happened too.
    const control = server.client({ reconnect: { initialDelay: 200, maxDelay: 200, jitter: 0 } });
    await waitForState(client, 'open');
    await waitForState(control, 'open');
    const states: string[] = [];
    client.on('state', (s) => void states.push(s));
    for (const conn of [...server.tether.connections.values()])
      conn.close(CloseCode.InternalError, 'test drop');
    await waitForState(client, 'closed');
    await waitForState(control, 'reconnecting');
    await waitForState(control, 'open');
    expect(client.state).toBe('closed');
    expect(states).toEqual(['closed']);
    expect(server.tether.metrics().connectionsOpened).toBe(3); // both clients, then the control again
  });
});

describe('heartbeat', () => {
  it('server drops a client that stops answering pings', async () => {
    const server = await node({ heartbeat: { intervalMs: 40, timeoutMs: 40 } });
    const reasons: string[] = [];
    server.tether.on('connection', (conn) => conn.on('close', (reason) => reasons.push(reason)));
    // A raw client that says hello and then never answers a ping.
    const raw = new WebSocket(server.url.replace('http', 'ws'), ['tether.v1.json']);
    cleanups.push(() => raw.terminate());
    await new Promise((resolve) => raw.once('open', resolve));
    raw.send(JSON.stringify({ t: 'hello' }));
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    await until(() => reasons.length === 1, 2_000, 'server-side close');
    expect(reasons).toEqual(['heartbeat timeout']);
    await closed;
    expect(server.tether.connections.size).toBe(0);
  });

  it('keeps a healthy client connected across many heartbeat periods', async () => {
    // A client that did not answer would be dropped 180 ms after a ping; it must live through 15.
    // (A 30 ms timeout made either side call a 60 ms event-loop stall on a loaded machine a death.)
    const server = await node({ heartbeat: { intervalMs: 30, timeoutMs: 150 } });
    const reasons: string[] = [];
    server.tether.on('connection', (conn) => conn.on('close', (reason) => reasons.push(reason)));
    const client = server.client();
    await waitForState(client, 'open');
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    // Nothing else is sent on this connection: every frame out from here on is a ping.
    const sentBefore = server.tether.metrics().messages.out;
    await until(() => server.tether.metrics().messages.out - sentBefore >= 15, 5_000, '15 pings');
    expect(reasons).toEqual([]);
    expect(states).toEqual([]);
    expect(server.tether.connections.size).toBe(1);
  });

  it('client reconnects when the server goes silent', async () => {
    // A fake server that completes the handshake, then never sends anything again.
    const http = createServer();
    const wss = new WebSocketServer({ server: http, handleProtocols: () => 'tether.v1.json' });
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.once('message', () =>
        ws.send(
          JSON.stringify({ t: 'welcome', sid: 's', sk: 'k', cid: 'c', rs: 0, hb: [40, 40], mp: 1 << 20 }),
        ),
      );
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise((resolve) => http.close(resolve));
    });
    const client = new TetherClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`, {
      reconnect: { initialDelay: 20, maxDelay: 50 },
      transports: ['websocket'],
    });
    cleanups.push(() => client.close());
    await waitForState(client, 'open');
    await waitForState(client, 'reconnecting', 1_000);
    await waitForState(client, 'open', 1_000);
    expect(connections).toBeGreaterThanOrEqual(2);
  });
});

describe('bad input', () => {
  async function rawClient(url: string, protocols: string[] = ['tether.v1.json']) {
    const raw = new WebSocket(url.replace('http', 'ws'), protocols);
    cleanups.push(() => raw.terminate());
    await new Promise((resolve, reject) => {
      raw.once('open', resolve);
      raw.once('error', reject);
    });
    return raw;
  }
  const closeCode = (raw: WebSocket) =>
    new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));

  it('closes a connection that sends malformed or unknown frames with documented codes; others keep working', async () => {
    const server = await node();
    server.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const good = server.client();
    await expect(good.request('echo', 1)).resolves.toBe(1);

    const notJson = await rawClient(server.url);
    notJson.send('this is not json');
    expect(await closeCode(notJson)).toBe(CloseCode.BadMessage);

    const unknownType = await rawClient(server.url);
    unknownType.send(JSON.stringify({ t: 'hello' }));
    unknownType.send(JSON.stringify({ t: 'launch-missiles' }));
    expect(await closeCode(unknownType)).toBe(CloseCode.UnknownType);

    const wrongShape = await rawClient(server.url);
    wrongShape.send(JSON.stringify({ t: 'hello' }));
    wrongShape.send(JSON.stringify({ t: 'req', id: 5, e: 'echo' }));
    expect(await closeCode(wrongShape)).toBe(CloseCode.BadMessage);

    const protoKey = await rawClient(server.url);
    protoKey.send(JSON.stringify({ t: 'hello' }));
    protoKey.send('{"t":"evt","e":"x","d":{"__proto__":{"polluted":true}}}');
    expect(await closeCode(protoKey)).toBe(CloseCode.BadMessage);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const serverOnly = await rawClient(server.url);
    serverOnly.send(JSON.stringify({ t: 'hello' }));
    serverOnly.send(JSON.stringify({ t: 'welcome', sid: 'a', sk: 'b', cid: 'c', rs: 0, hb: [1, 1], mp: 1 }));
    expect(await closeCode(serverOnly)).toBe(CloseCode.BadMessage);

    const tooBig = await rawClient(server.url);
    tooBig.send(JSON.stringify({ t: 'hello' }));
    tooBig.send('x'.repeat(1024 * 1024 + 1));
    expect(await closeCode(tooBig)).toBe(CloseCode.MessageTooBig);

    await expect(good.request('echo', 2)).resolves.toBe(2);
    expect(good.state).toBe('open');
  });

  it('refuses an upgrade that offers no known subprotocol with HTTP 400', async () => {
    const server = await node();
    const raw = new WebSocket(server.url.replace('http', 'ws'), ['graphql-ws']);
    const status = await new Promise<number>((resolve) => {
      raw.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      raw.once('error', () => resolve(-1));
    });
    expect(status).toBe(400);
  });

  it('rejects an oversize client.request without reaching the handler', async () => {
    const server = await node({ maxPayload: 10_000 });
    let runs = 0;
    server.tether.on('connection', (conn) =>
      conn.on('big', () => {
        runs++;
        return 'ran';
      }),
    );
    const client = server.client();
    await waitForState(client, 'open');
    const err = await rejectionOf(client.request('big', 'x'.repeat(20_000)));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(runs).toBe(0);
    expect(client.state).toBe('open');
  });
});

describe('authentication', () => {
  it('answers a refused upgrade with 401 and a JSON error body; the client stops', async () => {
    const server = await node({
      authenticate: (_req, auth) => ((auth as { token?: string })?.token === 'ok' ? { userId: '1' } : null),
    });
    const raw = new WebSocket(server.url.replace('http', 'ws'), ['tether.v1.json']);
    const refusal = await new Promise<{ status: number; body: string }>((resolve) => {
      raw.once('unexpected-response', (_req, response) => {
        let body = '';
        response.on('data', (c: Buffer) => (body += c));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
    });
    expect(refusal.status).toBe(401);
    expect(JSON.parse(refusal.body)).toEqual({
      error: { code: 'UNAUTHORIZED', message: 'authentication refused' },
    });

    const denied = server.client({ auth: { token: 'bad' }, transports: ['websocket'] });
    const errors: string[] = [];
    denied.on('error', (e) => errors.push(e.code));
    await waitForState(denied, 'closed');
    expect(errors).toContain('UNAUTHORIZED');

    const allowed = server.client({ auth: async () => ({ token: 'ok' }) });
    const seen: unknown[] = [];
    server.tether.on('connection', (conn) => seen.push(conn.data));
    await waitForState(allowed, 'open');
    expect(seen).toEqual([{ userId: '1' }]);
  });
});

describe('resources', () => {
  it('leaves no handle behind after 1 000 open/close cycles and close()', async () => {
    const before = new Set(process.getActiveResourcesInfo());
    const handles = trackHandles();
    const server = await startNode({ heartbeat: { intervalMs: 1_000, timeoutMs: 1_000 } });
    let closes = 0;
    server.tether.on('connection', (conn) => conn.on('close', () => closes++));
    for (let batch = 0; batch < 20; batch++) {
      const clients = Array.from(
        { length: 50 },
        () => new TetherClient(server.url, { transports: ['websocket'] }),
      );
      await Promise.all(clients.map((c) => waitForState(c, 'open')));
      for (const c of clients) c.close();
    }
    await until(() => closes === 1_000, 10_000, 'all server-side closes');
    expect(server.tether.connections.size).toBe(0);
    expect(server.tether.metrics().rooms).toBe(0);
    await server.close();
    await handles.check(3_000); // closing is asynchronous: waits until the counts are back
    const leaked = process.getActiveResourcesInfo().filter((r) => !before.has(r) && r !== 'TTYWrap');
    expect(leaked).toEqual([]);
  }, 60_000);
});
