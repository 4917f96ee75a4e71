/**
 * Observability in a real browser: the operations page (refused without the app's check, live
 * numbers with it) and the client's tracing behind `localStorage.debug`. Runs against the built
 * packages (`pnpm build`), as a page would load them.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TetherClient } from '../packages/client/dist/node.js';
import { TetherServer } from '../packages/server/dist/index.js';
import { expect, test } from './fixtures.js';

const browserDir = fileURLToPath(new URL('../packages/client/dist/browser/', import.meta.url));

const PAGE = `<!doctype html><title>trace</title><p id="state">none</p>
<script type="module">
  import { TetherClient } from '/vendor/tether-client.js';
  const client = new TetherClient(location.origin + '/tether');
  client.on('state', (s) => { document.getElementById('state').textContent = s; });
</script>`;

async function start(
  extra: Partial<ConstructorParameters<typeof TetherServer>[0]> = {},
): Promise<{ url: string; tether: TetherServer; close(): Promise<void> }> {
  const http: Server = createServer(async (req, res) => {
    if (req.url?.startsWith('/vendor/')) {
      const name = req.url.slice('/vendor/'.length).split('?')[0]!;
      if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
      try {
        const body = await readFile(join(browserDir, name));
        res.writeHead(200, {
          'content-type': extname(name) === '.js' ? 'text/javascript' : 'application/json',
        });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  const tether = new TetherServer({
    server: http,
    operations: { authorize: (req) => (req.headers.cookie ?? '').includes('admin=yes'), intervalMs: 200 },
    ...extra,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    tether,
    async close() {
      await tether.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

test('the operations page: 403 without the app’s check, live numbers with it', async ({ page, context }) => {
  const server = await start();
  const client = new TetherClient(`${server.url}/tether`);
  try {
    const refused = await page.goto(`${server.url}/tether/operations`);
    expect(refused?.status()).toBe(403);

    await context.addCookies([{ name: 'admin', value: 'yes', url: server.url }]);
    const shown = await page.goto(`${server.url}/tether/operations`);
    expect(shown?.status()).toBe(200);
    await expect(page.locator('#status')).toContainText('live: 1 node(s)');
    const row = page.locator('#nodes tbody tr').first();
    await expect(row.locator('td').first()).toHaveText(server.tether.nodeId);
    // The Node client's connection shows up in the connections column.
    await expect(row.locator('td').nth(3)).toHaveText('1');
  } finally {
    client.close();
    await server.close();
  }
});

test("the operations page: a user's inbox, and a dead letter redriven with its button", async ({
  page,
  context,
}) => {
  const server = await start({
    authenticate: (_req, auth) => auth as { userId: string },
    notifications: { maxAttempts: 1, ackTimeoutMs: 100, offlineAfterMs: 60_000 },
  });
  const client = new TetherClient(`${server.url}/tether`, { auth: { userId: 'ada' } });
  try {
    // A client whose listener throws: the notification becomes a dead letter after one attempt.
    client.on('error', () => {});
    client.on('invoice', () => {
      throw new Error('cannot show it');
    });
    const dead = new Promise<void>((resolve) => server.tether.on('undelivered', () => resolve()));
    await server.tether.user('ada').notify('invoice', { n: 1 }, { id: 'inv-1' });
    await dead;
    client.close();
    await server.tether.user('bob').notify('feed', { n: 2 }, { id: 'feed-1' });

    await context.addCookies([{ name: 'admin', value: 'yes', url: server.url }]);
    await page.goto(`${server.url}/tether/operations`);
    await page.locator('#inbox-user').fill('bob');
    await page.locator('#inbox-form button').click();
    await expect(page.locator('#inbox-status')).toHaveText('1 pending for bob');
    await expect(page.locator('#inbox tbody tr td').first()).toHaveText('feed-1');

    const row = page.locator('#dead tbody tr', { hasText: 'inv-1' });
    await row.locator('button').click();
    await expect(row.locator('button')).toHaveText('redriven');
    // The page shows the redriven letter back in its user's inbox.
    await expect(page.locator('#inbox-status')).toHaveText('1 pending for ada');
    await expect(page.locator('#inbox tbody tr td').first()).toHaveText('inv-1');
    expect(await server.tether.deadLetters.list()).toEqual([]);
  } finally {
    client.close();
    await server.close();
  }
});

test('client tracing follows localStorage.debug, and is silent without it', async ({ browser }) => {
  const server = await start();
  try {
    const traced = await browser.newPage();
    const lines: string[] = [];
    traced.on('console', (msg) => lines.push(msg.text()));
    await traced.addInitScript(() => localStorage.setItem('debug', 'tether:*'));
    await traced.goto(server.url);
    await expect(traced.locator('#state')).toHaveText('open');
    // The trace chunk loads while the client connects: it says the state it found, then every change
    // (the console formats `%s` itself; Playwright's text shows the format and its arguments).
    await expect.poll(() => lines.some((l) => l.startsWith('tether:client ') && / open$/.test(l))).toBe(true);

    const quiet = await browser.newPage();
    const quietLines: string[] = [];
    quiet.on('console', (msg) => quietLines.push(msg.text()));
    await quiet.goto(server.url);
    await expect(quiet.locator('#state')).toHaveText('open');
    expect(quietLines.filter((l) => l.startsWith('tether:'))).toEqual([]);
    await traced.close();
    await quiet.close();
  } finally {
    await server.close();
  }
});
