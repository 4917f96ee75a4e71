/**
 * Page lifecycle in the browser client (docs/api.md, "Page lifecycle"): no reconnect attempts
 * while the browser is offline and one at once on `online`; a page resumed after a freeze drops a
 * connection whose server went silent past its heartbeat deadline and reconnects now; a page that
 * becomes visible or is restored from the back-forward cache reconnects now rather than after
 * its backoff. The backoff in these tests is far longer than the test timeout, so only the
 * lifecycle can bring the client back in time.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { TetherServer } from '../packages/server/dist/index.js';
import { expect, test } from './fixtures.js';

const browserBuild = fileURLToPath(new URL('../packages/client/dist/browser/', import.meta.url));

/** A page, the browser build of the client and Tether on one origin; counts WebSocket handshakes. */
async function startServer() {
  const http = createServer(async (req, res) => {
    const name = (req.url ?? '/').replace(/^\/client\//, '');
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>lifecycle</title>');
      return;
    }
    try {
      if (!/^[\w.-]+\.js$/.test(name)) throw new Error('not a script');
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(await readFile(browserBuild + name));
    } catch {
      res.writeHead(404).end();
    }
  });
  const tether = new TetherServer({ server: http });
  const sockets: Socket[] = [];
  http.on('upgrade', (_req, socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    handshakes: () => sockets.length,
    /** The newest WebSocket connection's TCP socket. */
    last: () => sockets.at(-1)!,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await tether.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;
type PageWindow = { client: { state: string; close(): void }; states: string[]; sockets: number };

/** Opens the page with a client whose backoff waits longer than the test may run. */
async function openClient(page: Page, server: Server, reconnect: object): Promise<void> {
  // Counts the WebSocket objects the page creates: attempts made offline never reach the server.
  await page.addInitScript(() => {
    const Native = WebSocket;
    const w = window as unknown as PageWindow;
    w.sockets = 0;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        w.sockets++;
      }
    };
  });
  await page.goto(`${server.origin}/`);
  await page.evaluate(async (options) => {
    const { TetherClient } = await import('/client/tether-client.js' as string);
    const w = window as unknown as PageWindow;
    w.states = [];
    w.client = new TetherClient(`${location.origin}/tether`, {
      transports: ['websocket'],
      reconnect: options,
    });
    (w.client as unknown as { on(e: string, l: (s: string) => void): void }).on('state', (s) =>
      w.states.push(s),
    );
  }, reconnect);
  await waitForState(page, 'open', 1);
}

/** Waits until the client has entered `state` `times` times. */
async function waitForState(page: Page, state: string, times: number): Promise<void> {
  await page.waitForFunction(
    ([s, n]) => (window as unknown as PageWindow).states.filter((x) => x === s).length >= (n as number),
    [state, times] as const,
  );
}

const never = { initialDelay: 600_000, maxDelay: 600_000, jitter: 0 };

test.describe('page lifecycle', () => {
  let server: Server;
  test.beforeEach(async () => {
    server = await startServer();
  });
  test.afterEach(async () => {
    await server.close();
  });

  test('offline: no attempts until `online`, then one at once', async ({ page, context, pageErrors }) => {
    // A short backoff: without the pause the client would try again every few milliseconds.
    await openClient(page, server, { initialDelay: 10, maxDelay: 20 });
    expect(server.handshakes()).toBe(1);
    await context.setOffline(true);
    await page.waitForFunction(() => navigator.onLine === false);
    server.last().destroy();
    await waitForState(page, 'reconnecting', 1);
    // Absence cannot be signalled by an event: let 50 backoff delays' worth of timer turns pass in
    // the page, then check that no socket was even created.
    const attempts = await page.evaluate(async () => {
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      return (window as unknown as PageWindow).sockets;
    });
    expect(attempts).toBe(1);
    expect(server.handshakes()).toBe(1);

    await context.setOffline(false);
    await waitForState(page, 'open', 2);
    expect(server.handshakes()).toBe(2);
    expect(await page.evaluate(() => (window as unknown as PageWindow).sockets)).toBe(2);
    expect(pageErrors).toEqual([]);
  });

  test('online while waiting out a long backoff: reconnects at once', async ({ page, context }) => {
    await openClient(page, server, never);
    server.last().destroy();
    await waitForState(page, 'reconnecting', 1);
    await context.setOffline(true);
    await context.setOffline(false);
    await waitForState(page, 'open', 2);
    expect(server.handshakes()).toBe(2);
  });

  test('`resume` after a freeze: reconnects now instead of after its backoff', async ({ page }) => {
    await openClient(page, server, never);
    server.last().destroy();
    await waitForState(page, 'reconnecting', 1);
    // `Page.setWebLifecycleState` does not freeze a visible headless page (no freeze or resume
    // event fires), so the event is dispatched at the document as the browser would.
    await page.evaluate(() => document.dispatchEvent(new Event('resume')));
    await waitForState(page, 'open', 2);
    expect(server.handshakes()).toBe(2);
  });

  test('a page that becomes visible reconnects now instead of after its backoff', async ({ page }) => {
    await openClient(page, server, never);
    server.last().destroy();
    await waitForState(page, 'reconnecting', 1);
    expect(await page.evaluate(() => document.visibilityState)).toBe('visible');
    // Headless Chromium cannot hide a page through CDP: the event is dispatched as the browser would.
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await waitForState(page, 'open', 2);
    expect(server.handshakes()).toBe(2);
  });

  test('a back-forward cache restore (`pageshow`, persisted) drops the old socket and reconnects now', async ({
    page,
  }) => {
    await openClient(page, server, never);
    // A synthetic restore: a real one (navigate away, `goBack()`) was not made to work in headless
    // Chromium here, so the event is dispatched as the browser fires it on a restore.
    await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
    await waitForState(page, 'open', 2);
    expect(server.handshakes()).toBe(2);
    // An ordinary `pageshow` (not from the cache) leaves a live connection alone.
    await page.evaluate(() =>
      window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false })),
    );
    await page.evaluate(() => (window as unknown as PageWindow).client.close());
    expect(server.handshakes()).toBe(2);
  });

  test('close() removes the listeners: `online` after close does not reconnect', async ({
    page,
    context,
  }) => {
    await openClient(page, server, never);
    await page.evaluate(() => (window as unknown as PageWindow).client.close());
    await context.setOffline(true);
    await context.setOffline(false);
    await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
    expect(await page.evaluate(() => (window as unknown as PageWindow).client.state)).toBe('closed');
    expect(server.handshakes()).toBe(1);
  });
});
