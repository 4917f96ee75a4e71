/**
 * Screenshots of every example page for the docs, written to docs/screenshots/ by each run. Each
 * test also checks the page is in the state the picture is meant to show.
 */
import { fileURLToPath } from 'node:url';
import { expect, say, signIn, test } from './examples.js';

const shot = (name: string) => fileURLToPath(new URL(`../docs/screenshots/${name}.png`, import.meta.url));

test('screenshot: chat', async ({ startChat, newPage, pageErrors }) => {
  const chat = await startChat();
  const alice = await newPage();
  const bob = await newPage();
  await signIn(alice, chat.url, 'alice');
  await signIn(bob, chat.url, 'bob');
  await say(bob, 'Lunch at noon?');
  await say(alice, 'Sure. The place with the good soup?');
  await say(bob, 'That one. I will book a table for three.');
  await expect(alice.locator('#messages li.msg')).toHaveCount(3);
  await bob.locator('#rooms li[data-room="random"] .room').click();
  await say(bob, 'Did anyone see the release notes?');
  await expect(alice.locator('#rooms li[data-room="random"] .badge')).toHaveText('1');
  await bob.locator('#rooms li[data-room="general"] .room').click();
  await bob.locator('#text').pressSequentially('Carol is in');
  await expect(alice.locator('#typing')).toHaveText('bob is typing…');
  await expect(alice.locator('#online li')).toHaveCount(2);
  await alice.screenshot({ path: shot('chat') });
  expect(pageErrors).toEqual([]);
});

test('screenshot: tracking (driver, customer, admin)', async ({ startTracking, newPage }) => {
  const tracking = await startTracking();
  const admin = await newPage();
  await admin.goto(`${tracking.url}/admin.html`);
  const driver = await newPage();
  const customer = await newPage();
  await driver.goto(`${tracking.url}/driver.html?order=4711&steps=16`);
  await customer.goto(`${tracking.url}/customer.html?order=4711`);
  await expect(customer.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(driver.locator('#conn')).toHaveAttribute('data-state', 'open');

  await driver.locator('#statuses li[data-status="picked-up"] button').click();
  await expect(driver.locator('#statuses li[data-status="picked-up"] .seen')).toBeVisible();
  await driver.locator('#drive').click();
  await driver.locator('#statuses li[data-status="on-the-way"] button').click();
  await expect(driver.locator('#statuses li[data-status="on-the-way"] .seen')).toBeVisible();
  // Let the courier cover about half of the route (16 steps in all).
  await expect
    .poll(async () => Number(await customer.locator('#updates').textContent()), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(8);
  await driver.locator('#drive').click();
  await expect(customer.locator('#toast')).toBeHidden({ timeout: 6_000 });

  await customer.screenshot({ path: shot('tracking-customer') });
  await driver.screenshot({ path: shot('tracking-driver') });
  await expect
    .poll(async () => Number(await admin.locator('#ticks').textContent()))
    .toBeGreaterThanOrEqual(10);
  await admin.screenshot({ path: shot('tracking-admin') });
});
