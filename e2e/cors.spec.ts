/**
 * A page on another origin talks to Tether over the SSE fallback (CORS under `path`, governed by
 * `allowedOrigins`), and a refused handshake reaches the page as an `error` event with its code
 * instead of an endless silent reconnect (docs/security.md, "CORS under `path`").
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TetherServer } from '../packages/server/dist/index.js';
import { expect, test } from './fixtures.js';

const browserBuild = fileURLToPath(new URL('../packages/client/dist/browser/', import.meta.url));

/** Serves a blank page and the browser build of the client: the second origin. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (req, res) => {
    const name = (req.url ?? '/').replace(/^\/client\//, '');
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>page</title>');
      return;
    }
    if (!/^[\w.-]+\.js$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const code = await readFile(browserBuild + name);
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // `localhost` for the page, `127.0.0.1` for Tether: two origins.
  return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` };
}

async function tetherServer(allowedOrigins: string[]) {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const tether = new TetherServer({
    server: http,
    allowedOrigins,
    authenticate: (_req, auth) => ((auth as { token?: string })?.token === 'ok' ? { userId: 'ann' } : null),
    authorizeJoin: () => true,
  });
  tether.on('connection', (conn) => conn.on('echo', (data) => data));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`;
  return {
    tether,
    url,
    close: async () => {
      await tether.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

type Outcome = { state: string; errors: string[]; transport?: string; echo?: unknown; message?: unknown };

/** Runs a client in the page over SSE only and reports what it saw. */
function runClient(url: string, token: string, room: boolean): string {
  return `
    const { TetherClient } = await import('/client/tether-client.js');
    const client = new TetherClient(${JSON.stringify(url)}, {
      transports: ['sse'], auth: { token: ${JSON.stringify(token)} }, reconnect: { initialDelay: 50, maxDelay: 200 },
    });
    window.client = client;
    const errors = [];
    client.on('error', (e) => errors.push(e.code));
    const settled = await new Promise((resolve) => {
      client.on('state', (s) => { if (s === 'open' || s === 'closed') resolve(s); });
    });
    if (settled !== 'open') return { state: client.state, errors };
    const echo = await client.request('echo', { hi: 1 });
    let message;
    if (${room}) {
      const r = await client.join('news');
      message = await new Promise((resolve) => { r.on('headline', resolve); window.publishNow = true; });
    }
    return { state: client.state, errors, transport: client.transport, echo, message };
  `;
}

test('an allowed page on another origin works over SSE; a refused one is told why and stops', async ({
  page,
}) => {
  const site = await pageServer();
  const allowed = await tetherServer([site.origin]);
  const other = await tetherServer(['https://elsewhere.test']);
  try {
    await page.goto(`${site.origin}/`);

    const working = page.evaluate(`(async () => { ${runClient(allowed.url, 'ok', true)} })()`);
    await expect.poll(() => page.evaluate('window.publishNow === true')).toBe(true);
    await allowed.tether.to('news').emit('headline', { text: 'cross-origin' });
    const ok = (await working) as Outcome;
    expect(ok).toEqual({
      state: 'open',
      errors: [],
      transport: 'sse',
      echo: { hi: 1 },
      message: { text: 'cross-origin' },
    });
    await page.evaluate('window.client.close()');

    // 401 from an allowed origin: readable, an error with its code, then closed for good.
    const unauthorized = (await page.evaluate(
      `(async () => { ${runClient(allowed.url, 'bad', false)} })()`,
    )) as Outcome;
    expect(unauthorized).toEqual({ state: 'closed', errors: ['UNAUTHORIZED'] });

    // A server that does not list this origin: 403 FORBIDDEN, readable, closed.
    const forbidden = (await page.evaluate(
      `(async () => { ${runClient(other.url, 'ok', false)} })()`,
    )) as Outcome;
    expect(forbidden).toEqual({ state: 'closed', errors: ['FORBIDDEN'] });
  } finally {
    await allowed.close();
    await other.close();
    await new Promise((resolve) => site.server.close(resolve));
  }
});
