/**
 * The chat's "Simulate a network drop" button: the server cuts that page's sockets (and refuses its
 * reconnects for a while) while another visitor keeps chatting; the page goes reconnecting → open
 * and shows what was said meanwhile once, in order.
 */
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { expect, messageTexts, say, signIn, test } from './examples.js';

/** Records every value the connection badge's data-state takes from now on, in the page. */
async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const badge = document.getElementById('conn') as HTMLElement;
    const seen = [badge.dataset.state ?? ''];
    (window as unknown as { states: string[] }).states = seen;
    new MutationObserver(() => {
      if (seen.at(-1) !== badge.dataset.state) seen.push(badge.dataset.state ?? '');
    }).observe(badge, { attributes: true, attributeFilter: ['data-state'] });
  });
}

const statesOf = (page: Page) => page.evaluate(() => (window as unknown as { states: string[] }).states);

for (const transport of ['websocket', 'sse'] as const) {
  test(`a network drop over ${transport}: reconnecting, then open, and every message sent meanwhile once, in order`, async ({
    startChat,
    startProxy,
    newPage,
  }) => {
    // Long enough that Bob's messages certainly go out while Alice is cut off.
    const chat = await startChat({ networkDropMs: 6_000 });
    let aliceUrl = chat.url;
    if (transport === 'sse') {
      // Upgrades refused on the way: Alice's page runs over SSE.
      const proxy = await startProxy({ target: { host: '127.0.0.1', port: chat.port } });
      proxy.blockUpgrades(true);
      aliceUrl = proxy.url('/');
    }
    const alice = await newPage();
    const bob = await newPage();
    await signIn(alice, aliceUrl, 'alice');
    await signIn(bob, chat.url, 'bob');
    await expect(alice.locator('#conn')).toHaveAttribute('data-transport', transport);

    await say(bob, 'before the drop');
    await expect(alice.locator('#messages li.msg .text')).toHaveText(['before the drop']);
    await recordStates(alice);
    await recordStates(bob);

    await alice.locator('#drop').click();
    await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'reconnecting');
    await expect(alice.locator('#drop-status')).toHaveAttribute('data-phase', 'down');
    await expect(alice.locator('#drop')).toBeDisabled();

    // Bob keeps chatting; each message is acknowledged while Alice is still cut off.
    const meanwhile = ['during 1', 'during 2', 'during 3'];
    for (const text of meanwhile) {
      await say(bob, text);
      await expect(bob.locator('#messages li.msg.mine').last()).toHaveAttribute('data-status', 'sent');
    }
    await say(alice, 'written while cut off');
    await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sending');
    expect(await alice.locator('#conn').getAttribute('data-state')).not.toBe('open');
    await expect(bob.locator('#messages li.msg .text')).toHaveText(['before the drop', ...meanwhile]);

    await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 20_000 });
    await expect(alice.locator('#drop-status')).toHaveAttribute('data-phase', 'recovered');
    await expect(alice.locator('#drop-status')).toHaveAttribute(
      'data-trail',
      /^open reconnecting( connecting)* open$/,
    );
    const expected = ['before the drop', ...meanwhile, 'written while cut off'];
    await expect(alice.locator('#messages li.msg .text')).toHaveText(expected);
    await expect(alice.locator('#messages li.divider')).toHaveText('3 new since you went offline');
    await expect(alice.locator('#messages li.msg.mine')).toHaveAttribute('data-status', 'sent');
    await expect(bob.locator('#messages li.msg .text')).toHaveText(expected);
    await expect(alice.locator('#drop')).toBeEnabled();

    // The page really went down and came back; Bob's connection never moved.
    const aliceStates = await statesOf(alice);
    expect(aliceStates[0]).toBe('open');
    expect(aliceStates).toContain('reconnecting');
    expect(aliceStates.at(-1)).toBe('open');
    expect(await statesOf(bob)).toEqual(['open']);
    // Settled: no late duplicates on either side (a fence message from Bob arrives last).
    await say(bob, 'fence');
    await expect(alice.locator('#messages li.msg .text')).toHaveText([...expected, 'fence']);
    expect(await messageTexts(alice)).toEqual([...expected, 'fence']);
    if (transport === 'websocket')
      await alice.screenshot({
        path: fileURLToPath(new URL('../docs/screenshots/chat-network-drop.png', import.meta.url)),
      });
  });
}

test('the landing page says what to try and links both demos', async ({
  startChat,
  startTracking,
  newPage,
}) => {
  const tracking = await startTracking();
  const chat = await startChat({ trackingPort: tracking.port });
  const page = await newPage();
  await page.goto(`${chat.url}/start`);
  await expect(page.locator('h1')).toHaveText('Try Tether');
  await expect(page.locator('main')).toContainText('Simulate a network drop');
  await expect(page.locator('#driver')).toHaveAttribute(
    'href',
    new RegExp(`:${tracking.port}/driver\\.html\\?order=\\d+$`),
  );
  const customerHref = await page.locator('#customer').getAttribute('href');
  const customer = await newPage();
  await customer.goto(customerHref ?? '');
  await expect(customer.locator('#conn')).toHaveAttribute('data-state', 'open');
});

test('a drop asked of a node that does not hold the page is refused, not faked', async ({
  startChat,
  newPage,
  request,
}) => {
  const chat = await startChat();
  const other = await startChat();
  const alice = await newPage();
  await signIn(alice, chat.url, 'alice');
  const visitor = await alice.evaluate(() => sessionStorage.getItem('chat:visitor'));
  expect(visitor).toMatch(/^[0-9a-f]{24}$/);

  const elsewhere = await request.post(`${other.url}/demo/network-drop`, { data: { visitor } });
  expect(elsewhere.status()).toBe(409);
  expect((await elsewhere.json()).error.code).toBe('NOT_HERE');
  const malformed = await request.post(`${chat.url}/demo/network-drop`, { data: { visitor: '../x' } });
  expect(malformed.status()).toBe(400);

  // The page's own node cuts it, and it comes back.
  await recordStates(alice);
  const here = await request.post(`${chat.url}/demo/network-drop`, { data: { visitor } });
  expect(here.status()).toBe(200);
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'reconnecting');
  await expect(alice.locator('#conn')).toHaveAttribute('data-state', 'open', { timeout: 20_000 });
  expect(await statesOf(alice)).toEqual(['open', 'reconnecting', 'open']);
});
