import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { TetherServer } from '../src/index.js';
import { waitForState } from './harness.js';

/**
 * Every app below answers the same three routes, and records every URL its own handler saw:
 *   GET /health        -> JSON { ok: true }
 *   GET /tether-status -> text "app" (a path that only looks like Tether's)
 *   POST /echo         -> the request body, untouched
 */
interface App {
  http: Server;
  tether: TetherServer;
  /** URLs that reached the app's own request handling. */
  seen: string[];
  close(): Promise<void>;
}

interface Adapter {
  name: string;
  start(): Promise<App>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** The routes as a plain Node request listener (bare http and noServer mode). */
function plainApp(seen: string[]) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.url ?? '');
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
    } else if (req.method === 'GET' && req.url === '/tether-status') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('app');
    } else if (req.method === 'POST' && req.url === '/echo') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(await readBody(req));
    } else {
      res.writeHead(404).end();
    }
  };
}

function listen(http: Server): Promise<void> {
  return new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
}

function closeHttp(http: Server): Promise<void> {
  http.closeAllConnections();
  return new Promise((resolve) => http.close(() => resolve()));
}

function withTether(
  http: Server,
  seen: string[],
  tether: TetherServer,
  closeServer = () => closeHttp(http),
): App {
  return {
    http,
    tether,
    seen,
    async close() {
      await tether.close();
      await closeServer();
    },
  };
}

const adapters: Adapter[] = [
  {
    name: 'bare http',
    async start() {
      const seen: string[] = [];
      const http = createServer(plainApp(seen));
      const tether = new TetherServer({ server: http });
      await listen(http);
      return withTether(http, seen, tether);
    },
  },
  {
    name: 'bare http in noServer mode',
    async start() {
      const seen: string[] = [];
      const app = plainApp(seen);
      const tether = new TetherServer(); // no `server`: the app routes to it
      const inTether = (url = '') =>
        url === '/tether' || url.startsWith('/tether/') || url.startsWith('/tether?');
      const http = createServer((req, res) => {
        if (inTether(req.url)) tether.handleRequest(req, res);
        else void app(req, res);
      });
      http.on('upgrade', (req, socket, head) => {
        if (inTether(req.url)) void tether.handleUpgrade(req, socket, head);
        else socket.destroy();
      });
      await listen(http);
      return withTether(http, seen, tether);
    },
  },
  {
    name: 'Express 5 (app.listen)',
    async start() {
      const seen: string[] = [];
      const app = express();
      app.use((req, _res, next) => {
        seen.push(req.url);
        next();
      });
      app.get('/health', (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/tether-status', (_req, res) => {
        res.type('text/plain').send('app');
      });
      app.post('/echo', express.text({ type: '*/*' }), (req, res) => {
        res.type('text/plain').send(req.body as string);
      });
      // app.listen returns the http.Server: Tether attaches to it, before or after listening.
      const http = await new Promise<Server>((resolve) => {
        const server = app.listen(0, '127.0.0.1', () => resolve(server));
      });
      const tether = new TetherServer({ server: http });
      return withTether(http, seen, tether);
    },
  },
  {
    name: 'Fastify 5 (fastify.server)',
    async start() {
      const seen: string[] = [];
      const app = Fastify();
      app.addHook('onRequest', async (req) => {
        seen.push(req.url);
      });
      app.get('/health', async () => ({ ok: true }));
      app.get('/tether-status', async (_req, reply) => reply.type('text/plain').send('app'));
      app.post('/echo', async (req, reply) => reply.type('text/plain').send(req.body as string));
      await app.ready();
      const tether = new TetherServer({ server: app.server });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return withTether(app.server, seen, tether, () => app.close());
    },
  },
  {
    name: 'Koa 3 (http.createServer(app.callback()))',
    async start() {
      const seen: string[] = [];
      const app = new Koa();
      app.use(async (ctx, next) => {
        seen.push(ctx.url);
        await next();
      });
      app.use(async (ctx) => {
        if (ctx.method === 'GET' && ctx.path === '/health') ctx.body = { ok: true };
        else if (ctx.method === 'GET' && ctx.path === '/tether-status') ctx.body = 'app';
        else if (ctx.method === 'POST' && ctx.path === '/echo') {
          ctx.type = 'text/plain';
          ctx.body = await readBody(ctx.req);
        }
      });
      const http = createServer(app.callback());
      const tether = new TetherServer({ server: http });
      await listen(http);
      return withTether(http, seen, tether);
    },
  },
  {
    name: 'Koa 3 (app.listen)',
    async start() {
      const seen: string[] = [];
      const app = new Koa();
      app.use(async (ctx) => {
        seen.push(ctx.url);
        if (ctx.path === '/health') ctx.body = { ok: true };
        else if (ctx.path === '/tether-status') ctx.body = 'app';
        else if (ctx.path === '/echo') {
          ctx.type = 'text/plain';
          ctx.body = await readBody(ctx.req);
        }
      });
      const http = await new Promise<Server>((resolve) => {
        const server = app.listen(0, '127.0.0.1', () => resolve(server));
      });
      const tether = new TetherServer({ server: http });
      return withTether(http, seen, tether);
    },
  },
];

let running: { app: App; client: TetherClient } | undefined;
afterEach(async () => {
  running?.client.close();
  await running?.app.close();
  running = undefined;
});

describe.each(adapters)('$name', (adapter) => {
  it('serves Tether at /tether while every other path reaches the app untouched', async () => {
    const app = await adapter.start();
    const base = `http://127.0.0.1:${(app.http.address() as AddressInfo).port}`;
    app.tether.on('connection', (conn) => {
      conn.on('add', (data) => {
        const { a, b } = data as { a: number; b: number };
        return a + b;
      });
    });
    const client = new TetherClient(`${base}/tether`, { reconnect: { initialDelay: 50, maxDelay: 200 } });
    running = { app, client };

    await waitForState(client, 'open');
    expect(client.transport).toBe('websocket');
    await expect(client.request('add', { a: 2, b: 3 })).resolves.toBe(5);

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    await expect(health.json()).resolves.toEqual({ ok: true });
    const lookalike = await fetch(`${base}/tether-status`);
    await expect(lookalike.text()).resolves.toBe('app');
    const echo = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'body untouched',
    });
    await expect(echo.text()).resolves.toBe('body untouched');

    // A plain request at Tether's path is Tether's: the app never sees it.
    await (await fetch(`${base}/tether`)).arrayBuffer();
    expect(app.seen).toEqual(['/health', '/tether-status', '/echo']);
  });
});

describe('request routing', () => {
  it('keeps Tether requests away from request listeners added after attaching, and gives them everything else', async () => {
    const http = createServer();
    const tether = new TetherServer({ server: http });
    const seenByApp: string[] = [];
    http.on('request', (req, res) => {
      seenByApp.push(req.url ?? '');
      res.end('app');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    expect(await (await fetch(`${base}/hello`)).text()).toBe('app');
    expect((await fetch(`${base}/tether/health`)).status).toBe(200);
    expect(seenByApp).toEqual(['/hello']);
    await tether.close();
    // Detached: the path belongs to the app again.
    expect(await (await fetch(`${base}/tether/health`)).text()).toBe('app');
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
});
