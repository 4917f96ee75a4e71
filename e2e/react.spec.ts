/**
 * The React bindings in Chromium, through the React chat example (examples/react-chat) built in
 * development mode, so StrictMode mounts every component twice: a room is joined on mount, left
 * on unmount, joined once despite the double mount, shows its members live, sends requests with
 * pending and error state, and keeps every message across a cut connection while it stays mounted.
 *
 * What the server saw comes from the example's `GET /api/stats`: joins it authorized per room, and
 * who is in each room now.
 */
import type { Page } from '@playwright/test';
import { buildReactChat, type RunningReactChat, startReactChat } from '../examples/react-chat/app.mjs';
import { test as base, expect } from './fixtures.js';

interface Stats {
  connections: number;
  upgrades: number;
  joins: Record<string, number>;
  members: Record<string, string[]>;
}

const test = base.extend<{ startApp: () => Promise<RunningReactChat>; newPage: () => Promise<Page> }>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern.
  startApp: async ({}, use) => {
    const running: RunningReactChat[] = [];
    await use(async () => {
      const app = await startReactChat({ port: 0, host: '127.0.0.1', distDir });
      running.push(app);
      return app;
    });
    await Promise.all(running.map((app) => app.close()));
  },
  newPage: async ({ browser }, use) => {
    const contexts: Awaited<ReturnType<typeof browser.newContext>>[] = [];
    const uncaught: string[] = [];
    await use(async () => {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (error) => uncaught.push(error.message));
      return page;
    });
    await Promise.all(contexts.map((context) => context.close()));
    expect(uncaught, 'uncaught errors in the page').toEqual([]);
  },
});

let distDir: string;
test.beforeAll(async () => {
  distDir = await buildReactChat({ mode: 'development' });
});

async function stats(app: RunningReactChat): Promise<Stats> {
  const res = await fetch(`http://127.0.0.1:${app.port}/api/stats`);
  return (await res.json()) as Stats;
}

/** Signs in as `name` and waits until the lobby is joined. */
async function enter(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.locator('#name').fill(name);
  await page.locator('#sign-in button').click();
  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'joined');
}

const texts = (page: Page) => page.locator('#messages li.msg .text');

function publish(app: RunningReactChat, room: string, text: string) {
  return app.tether.to(room).emit('message', { id: text, from: 'server', text, at: Date.now() });
}

test('connects, shows the state, joins on mount and renders messages', async ({ startApp, newPage }) => {
  const app = await startApp();
  const page = await newPage();
  await page.goto(app.url.replace('localhost', '127.0.0.1'));
  await page.locator('#name').fill('alice');
  await page.locator('#sign-in button').click();
  // The state is shown as it goes; it ends open.
  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open');
  // A direct (client-level) event through useEvent('welcome', ...).
  await expect(page.locator('#me')).toHaveText('signed in as alice');
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'joined');

  await page.locator('#text').fill('hello from react');
  await page.locator('#text').press('Enter');
  await expect(texts(page)).toHaveText(['hello from react']);
  await publish(app, 'chat:lobby', 'from the server');
  await expect(texts(page)).toHaveText(['hello from react', 'from the server']);
  expect((await stats(app)).members['chat:lobby']).toEqual(['alice']);
});

test('StrictMode mounts the room twice and the server sees one join', async ({ startApp, newPage }) => {
  const app = await startApp();
  const page = await newPage();
  await enter(page, app.url, 'alice');
  // Development build: React ran the room's mount effects twice (mount, unmount, mount).
  expect(await page.evaluate(() => (window as { roomMounts?: number }).roomMounts)).toBe(2);
  const seen = await stats(app);
  expect(seen.joins['chat:lobby']).toBe(1);
  // The provider (given a url) created its client in an effect that also ran twice: one connection.
  expect(seen.upgrades).toBe(1);
  expect(seen.connections).toBe(1);
  expect(seen.members['chat:lobby']).toEqual(['alice']);

  // Switching rooms mounts a new room component (twice again) and unmounts the old one.
  await page.locator('button[data-room="random"]').click();
  await expect(page.locator('#room')).toHaveAttribute('data-room', 'random');
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'joined');
  await expect.poll(async () => (await stats(app)).members['chat:lobby']).toEqual([]);
  const after = await stats(app);
  expect(after.joins).toEqual({ 'chat:lobby': 1, 'chat:random': 1 });
  expect(after.members['chat:random']).toEqual(['alice']);
});

test('unmounting the room leaves it; mounting it again joins again', async ({ startApp, newPage }) => {
  const app = await startApp();
  const page = await newPage();
  await enter(page, app.url, 'alice');
  await page.locator('#show-room').uncheck();
  await expect(page.locator('#no-room')).toBeVisible();
  // The server saw the leave: alice is no longer a member (and no join happened meanwhile).
  await expect.poll(async () => (await stats(app)).members['chat:lobby']).toEqual([]);
  expect((await stats(app)).joins['chat:lobby']).toBe(1);
  // The connection stays open with no room mounted.
  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open');

  await page.locator('#show-room').check();
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'joined');
  await expect.poll(async () => (await stats(app)).members['chat:lobby']).toEqual(['alice']);
  expect((await stats(app)).joins['chat:lobby']).toBe(2);
});

test('the member list updates as people come and go', async ({ startApp, newPage }) => {
  const app = await startApp();
  const alice = await newPage();
  const bob = await newPage();
  await enter(alice, app.url, 'alice');
  await expect(alice.locator('#members li')).toHaveText(['alice']);

  await enter(bob, app.url, 'bob');
  await expect(alice.locator('#members li')).toHaveText(['alice', 'bob']);
  await expect(bob.locator('#members li')).toHaveText(['alice', 'bob']);

  await bob.locator('#show-room').uncheck();
  await expect(alice.locator('#members li')).toHaveText(['alice']);
  await bob.locator('#show-room').check();
  await expect(alice.locator('#members li')).toHaveText(['alice', 'bob']);
  await bob.close();
  await expect(alice.locator('#members li')).toHaveText(['alice']);
});

test('a request shows pending while the server holds it, and its error when refused', async ({
  startApp,
  newPage,
}) => {
  const app = await startApp();
  const page = await newPage();
  await enter(page, app.url, 'alice');
  const send = page.locator('#send');
  await expect(send).toHaveAttribute('aria-busy', 'false');

  await fetch(`http://127.0.0.1:${app.port}/api/hold?on=1`, { method: 'POST' });
  await page.locator('#text').fill('held back');
  await page.locator('#text').press('Enter');
  await expect(send).toHaveAttribute('aria-busy', 'true');
  await expect(send).toHaveText('Sending…');
  await fetch(`http://127.0.0.1:${app.port}/api/hold?on=0`, { method: 'POST' });
  await expect(send).toHaveAttribute('aria-busy', 'false');
  await expect(texts(page)).toHaveText(['held back']);
  await expect(page.locator('#text')).toHaveValue('');

  // Refused by the handler: the error arrives at once, with its code, and nothing is published.
  await page.locator('#text').fill('x'.repeat(201));
  await page.locator('#text').press('Enter');
  await expect(page.locator('#send-error')).toHaveAttribute('data-code', 'BAD_TEXT');
  await expect(page.locator('#send-error')).toContainText('1 to 200 characters');
  await expect(send).toHaveAttribute('aria-busy', 'false');
  // The next request clears the error.
  await page.locator('#text').fill('short again');
  await page.locator('#text').press('Enter');
  await expect(texts(page)).toHaveText(['held back', 'short again']);
  await expect(page.locator('#send-error')).toHaveCount(0);
});

test('a cut connection recovers with the room still mounted: every message once, in order', async ({
  startApp,
  newPage,
  startProxy,
}) => {
  const app = await startApp();
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: app.port } });
  const page = await newPage();
  await enter(page, proxy.url('/'), 'alice');
  const mounts = await page.evaluate(() => (window as { roomMounts?: number }).roomMounts);

  const expected: string[] = [];
  const send = async (text: string) => {
    expected.push(text);
    await publish(app, 'chat:lobby', text);
  };
  for (let i = 1; i <= 3; i++) await send(`before ${i}`);
  await expect(texts(page)).toHaveText(expected);

  // Every connection through the proxy is reset, and new ones too until resume().
  proxy.pause();
  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'reconnecting');
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'rejoining');
  for (let i = 1; i <= 10; i++) await send(`during ${i}`);
  proxy.resume();

  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 20_000 });
  await expect(page.locator('#room')).toHaveAttribute('data-status', 'joined');
  for (let i = 1; i <= 3; i++) await send(`after ${i}`);
  // Exactly these, in this order: nothing missed, nothing twice.
  await expect(texts(page)).toHaveText(expected);
  await expect(page.locator('#recovery-failed')).toHaveCount(0);
  // The room component was never remounted (its list would have started over), and the server
  // saw one join for the first mount and one rejoin after the cut.
  expect(await page.evaluate(() => (window as { roomMounts?: number }).roomMounts)).toBe(mounts);
  expect((await stats(app)).joins['chat:lobby']).toBe(2);
  expect(proxy.totalConnections).toBeGreaterThan(1);
});
