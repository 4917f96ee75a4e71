import { expect, test } from './fixtures.js';

// Proves the browser setup (system Chromium, launch flags) and the fixtures module load; the real
// specs replace it.
test('headless Chromium launches and renders a data: URL', async ({ page, browserName, pageErrors }) => {
  expect(browserName).toBe('chromium');
  await page.goto('data:text/html,<title>smoke</title><h1 id="h">Tether</h1>');
  await expect(page).toHaveTitle('smoke');
  await expect(page.locator('#h')).toHaveText('Tether');
  expect(await page.evaluate(() => typeof WebSocket)).toBe('function');
  expect(pageErrors).toEqual([]);
});
