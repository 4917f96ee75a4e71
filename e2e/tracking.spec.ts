/**
 * The tracking example in Chromium: a driver and a customer on one order, and the admin
 * dashboard that reads metrics with a plain EventSource.
 */
import type { Page } from '@playwright/test';
import { expect, test } from './examples.js';

async function numberIn(page: Page, selector: string): Promise<number> {
  return Number(await page.locator(selector).textContent());
}

test('driver and customer: live locations, status pushes acked by the customer', async ({
  startTracking,
  newPage,
}) => {
  const tracking = await startTracking();
  const driver = await newPage();
  const customer = await newPage();
  await driver.goto(`${tracking.url}/driver.html?order=e2e-1`);
  await customer.goto(`${tracking.url}/customer.html?order=e2e-1`);
  await expect(driver.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(customer.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(customer.locator('#timeline li.current')).toHaveAttribute('data-status', 'placed');

  await driver.locator('#drive').click();
  await expect.poll(() => numberIn(customer, '#updates')).toBeGreaterThanOrEqual(4);
  await expect(customer.locator('#courier')).toBeVisible();

  // A status change: the driver's request is acked, the server notifies the customer (a durable
  // notification), the customer's page shows it and says so, and the driver is told it was seen.
  await driver.locator('#statuses li[data-status="picked-up"] button').click();
  await expect(customer.locator('#timeline li.current')).toHaveAttribute('data-status', 'picked-up');
  await expect(customer.locator('#toast')).toHaveText('Picked up');
  await expect(driver.locator('#statuses li[data-status="picked-up"] .seen')).toHaveText(
    '✓ seen by customer',
  );

  await driver.locator('#statuses li[data-status="on-the-way"] button').click();
  await expect(customer.locator('#timeline li.current')).toHaveAttribute('data-status', 'on-the-way');
  await expect(driver.locator('#statuses li[data-status="on-the-way"] .seen')).toBeVisible();

  // A customer page opened later reads the order's state and the last known location.
  const late = await newPage();
  await late.goto(`${tracking.url}/customer.html?order=e2e-1`);
  await expect(late.locator('#timeline li.current')).toHaveAttribute('data-status', 'on-the-way');
  await expect(late.locator('#timeline li[data-status="picked-up"]')).toHaveClass('done');
  await expect(late.locator('#courier')).toBeVisible();
  await driver.locator('#drive').click(); // pause the route
});

test('admin dashboard: live metrics over EventSource, resumed without gaps after a cut', async ({
  startTracking,
  startProxy,
  newPage,
}) => {
  const tracking = await startTracking();
  const proxy = await startProxy({ target: { host: '127.0.0.1', port: tracking.port } });
  const admin = await newPage();
  await admin.goto(proxy.url('/admin.html'));
  await expect(admin.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect.poll(() => numberIn(admin, '#ticks')).toBeGreaterThanOrEqual(3);
  await expect(admin.locator(`#nodes tr[data-node="${tracking.nodeName}"]`)).toBeVisible();

  // Another visitor shows up in the connection count.
  const customer = await newPage();
  await customer.goto(`${tracking.url}/customer.html?order=e2e-2`);
  await expect(customer.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect.poll(() => numberIn(admin, '#connections')).toBeGreaterThanOrEqual(1);
  await expect(admin.locator('#chart polyline')).toHaveCount(1);

  // Cut the stream. The browser reconnects by itself and sends Last-Event-ID; the ticks published
  // meanwhile are replayed from the room's history, so none is missing.
  const before = await numberIn(admin, '#ticks');
  const cutAt = Date.now();
  proxy.cut();
  await expect(admin.locator('#reconnects')).toHaveText('1', { timeout: 15_000 });
  // The browser waited before reconnecting (its default retry is about 3 s): ticks (every 500 ms)
  // were published while no stream was open, so "0 missing" below means they were replayed.
  expect(Date.now() - cutAt).toBeGreaterThan(1_000);
  await expect(admin.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect.poll(() => numberIn(admin, '#ticks')).toBeGreaterThan(before + 4);
  await expect(admin.locator('#gaps')).toHaveText('0');
  expect(proxy.totalConnections).toBeGreaterThanOrEqual(2);
});
