import {
  Agent,
  createServer as createHttpServer,
  type Server as HttpServer,
  get as httpGet,
} from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { freePort } from './free-port.js';
import { type HandleTracker, trackHandles } from './leak-check.js';
import { type ProxyTarget, TcpProxy } from './tcp-proxy.js';
import { once, waitFor } from './wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let handles: HandleTracker;
beforeAll(() => {
  handles = trackHandles();
});
afterAll(() => handles.check());

/** A TCP server whose accepted sockets the test can see, torn down after each test. */
async function tcpServer(
  onSocket: (socket: Socket) => void,
): Promise<{ target: ProxyTarget; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { target: { host: '127.0.0.1', port: address.port }, sockets };
}

const echoServer = () => tcpServer((socket) => socket.pipe(socket));

async function startProxy(options: Parameters<typeof TcpProxy.start>[0]): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(options);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Connects and collects everything received; `closed` settles with the socket's fate. */
async function dial(port: number) {
  const socket = connect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  let received = '';
  let error: NodeJS.ErrnoException | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    error = e;
  });
  // Not `once`: it rejects on 'error', and a reset is the outcome some tests are after.
  const closed = new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
    socket.on('close', () => resolve(error)),
  );
  // A paused proxy may reset the connection before the client even sees it established.
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  return { socket, closed, received: () => received };
}

describe('TcpProxy', () => {
  it('forwards bytes both ways and tracks open connections', async () => {
    const echo = await echoServer();
    const proxy = await startProxy({ target: echo.target });
    const a = await dial(proxy.port);
    a.socket.write('hello');
    await waitFor(() => a.received() === 'hello');
    expect(proxy.connectionCount).toBe(1);
    a.socket.end();
    await a.closed;
    await waitFor(() => proxy.connectionCount === 0);
    expect(proxy.totalConnections).toBe(1);
    expect(proxy.url('/x', 'ws')).toBe(`ws://127.0.0.1:${proxy.port}/x`);
  });

  it('passes a half-close on, so a reply sent after the client FIN still arrives', async () => {
    const server = await tcpServer((socket) => {
      let body = '';
      socket.on('data', (chunk) => {
        body += chunk;
      });
      socket.on('end', () => socket.end(`got ${body}`));
    });
    const proxy = await startProxy({ target: server.target });
    const c = await dial(proxy.port);
    c.socket.end('request');
    expect(await c.closed).toBeUndefined();
    expect(c.received()).toBe('got request');
  });

  it('cut() resets both sides and keeps listening', async () => {
    const echo = await echoServer();
    const proxy = await startProxy({ target: echo.target });
    const a = await dial(proxy.port);
    await waitFor(() => echo.sockets.length === 1);
    const upstreamClosed = once(echo.sockets[0]!, 'close', 3000);

    proxy.cut();
    expect((await a.closed)?.code).toBe('ECONNRESET');
    await upstreamClosed;
    expect(proxy.connectionCount).toBe(0);

    const b = await dial(proxy.port);
    b.socket.write('again');
    await waitFor(() => b.received() === 'again');
  });

  it('pause() cuts open connections and resets new ones until resume()', async () => {
    const echo = await echoServer();
    const proxy = await startProxy({ target: echo.target });
    const open = await dial(proxy.port);

    proxy.pause();
    expect((await open.closed)?.code).toBe('ECONNRESET');
    expect(proxy.refusedConnections).toBe(0);
    const refused = await dial(proxy.port);
    expect((await refused.closed)?.code).toBe('ECONNRESET');
    expect(echo.sockets).toHaveLength(1);
    await waitFor(() => proxy.refusedConnections === 1);

    proxy.resume();
    const back = await dial(proxy.port);
    back.socket.write('up');
    await waitFor(() => back.received() === 'up');
    expect(proxy.refusedConnections).toBe(1);
  });

  it('resets the client when the target refuses the connection', async () => {
    const proxy = await startProxy({ target: { host: '127.0.0.1', port: await freePort() } });
    const c = await dial(proxy.port);
    expect(await c.closed).toBeDefined();
    expect(proxy.connectionCount).toBe(0);
  });

  it('round robin sends each new connection to the next target; setTarget moves new ones', async () => {
    const named = (name: string) => tcpServer((socket) => socket.end(name));
    const [a, b, c] = await Promise.all([named('a'), named('b'), named('c')]);
    const proxy = await startProxy({ targets: [a.target, b.target, c.target] });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const conn = await dial(proxy.port);
      await conn.closed;
      seen.push(conn.received());
    }
    expect(seen).toEqual(['a', 'b', 'c', 'a']);

    proxy.setTarget(c.target);
    const moved = await dial(proxy.port);
    await moved.closed;
    expect(moved.received()).toBe('c');
  });

  it('close() stops listening', async () => {
    const echo = await echoServer();
    const proxy = await TcpProxy.start({ target: echo.target });
    const open = await dial(proxy.port);
    await proxy.close();
    await proxy.close();
    expect(await open.closed).toBeDefined();
    const late = connect({ host: '127.0.0.1', port: proxy.port });
    const [error] = await once<[NodeJS.ErrnoException]>(late, 'error');
    expect(error.code).toBe('ECONNREFUSED');
  });
});

describe('TcpProxy.blockUpgrades', () => {
  /** An HTTP server with a plain route and a WebSocket endpoint. */
  async function httpAndWs() {
    const server: HttpServer = createHttpServer((req, res) => res.end(`plain ${req.url}`));
    const wss = new WebSocketServer({ server });
    let upgrades = 0;
    wss.on('connection', (ws) => {
      upgrades++;
      ws.on('message', (data) => ws.send(data));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return { target: { host: '127.0.0.1', port: address.port }, upgrades: () => upgrades };
  }

  function getText(url: string, agent: Agent): Promise<string> {
    return new Promise((resolve, reject) => {
      httpGet(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  }

  /** Resolves `'open'` or `'failed'`, whichever the WebSocket reaches first. */
  function openWebSocket(url: string): Promise<{ ws: WebSocket; outcome: 'open' | 'failed' }> {
    const ws = new WebSocket(url);
    cleanups.push(() => ws.terminate());
    return new Promise((resolve) => {
      ws.once('open', () => resolve({ ws, outcome: 'open' }));
      ws.once('error', () => resolve({ ws, outcome: 'failed' }));
    });
  }

  it('refuses a WebSocket upgrade but passes plain GETs on a keep-alive connection', async () => {
    const app = await httpAndWs();
    const proxy = await startProxy({ target: app.target });
    proxy.blockUpgrades(true);

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect(await getText(proxy.url('/one'), agent)).toBe('plain /one');
    expect(await getText(proxy.url('/two'), agent)).toBe('plain /two');
    expect(proxy.totalConnections).toBe(1);

    const { outcome } = await openWebSocket(proxy.url('/ws', 'ws'));
    expect(outcome).toBe('failed');
    expect(app.upgrades()).toBe(0);

    proxy.blockUpgrades(false);
    const { ws, outcome: later } = await openWebSocket(proxy.url('/ws', 'ws'));
    expect(later).toBe('open');
    ws.send('ping');
    const [data] = await once<[Buffer]>(ws, 'message');
    expect(data.toString()).toBe('ping');
  });

  it('turning it on drops WebSockets already open and leaves plain connections alone', async () => {
    const app = await httpAndWs();
    const proxy = await startProxy({ target: app.target });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    await getText(proxy.url('/keep'), agent);
    const { ws, outcome } = await openWebSocket(proxy.url('/ws', 'ws'));
    expect(outcome).toBe('open');
    expect(proxy.connectionCount).toBe(2);

    const closed = once(ws, 'close');
    proxy.blockUpgrades(true);
    await closed;
    expect(proxy.connectionCount).toBe(1);
    expect(await getText(proxy.url('/still'), agent)).toBe('plain /still');
    expect(proxy.totalConnections).toBe(2);
  });

  it('does not hold back a protocol that is not HTTP', async () => {
    const echo = await echoServer();
    const proxy = await startProxy({ target: echo.target });
    proxy.blockUpgrades(true);
    const c = await dial(proxy.port);
    c.socket.write('*1\r\n$4\r\nPING\r\n');
    await waitFor(() => c.received() === '*1\r\n$4\r\nPING\r\n');
  });
});
