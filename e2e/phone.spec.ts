/**
 * Every page of both examples at a phone's width (390 x 844 CSS px, touch, mobile viewport): nothing
 * overflows sideways, text is readable, controls are big enough to tap. Each test also writes a
 * phone-sized screenshot for the docs (docs/screenshots/*-phone.png).
 */
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from '@playwright/test';
import { expect, say, signIn, test } from './examples.js';

const PHONE = { width: 390, height: 844 };
/** WCAG 2.2 "target size (minimum)": 24 x 24 CSS px. */
const MIN_TARGET = 24;
/** Smallest font size, in CSS px as rendered, that we accept for text. */
const MIN_FONT = 12;

const shot = (name: string) => fileURLToPath(new URL(`../docs/screenshots/${name}.png`, import.meta.url));

async function phonePage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({
    viewport: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  page.on('close', () => void context.close());
  return page;
}

interface LayoutProblems {
  scrollWidth: number;
  innerWidth: number;
  /** Elements whose box reaches past the viewport's left or right edge. */
  overflowing: string[];
  /** Visible text smaller than MIN_FONT. */
  tinyText: string[];
  /** Buttons, inputs and block links smaller than MIN_TARGET in either direction. */
  smallTargets: string[];
}

/** Measures the page as laid out now. */
function layoutProblems(page: Page): Promise<LayoutProblems> {
  return page.evaluate(
    ({ minFont, minTarget, phoneWidth }) => {
      const label = (el: Element) => {
        const id = el.id ? `#${el.id}` : '';
        const cls =
          typeof el.className === 'string' && el.className ? `.${el.className.split(/\s+/).join('.')}` : '';
        const text = (el.textContent ?? '').trim().slice(0, 30);
        return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
      };
      const visible = (el: Element) => {
        const rect = el.getBoundingClientRect();
        if (rect.width === 0 && rect.height === 0) return false;
        const style = getComputedStyle(el);
        return style.visibility !== 'hidden' && style.display !== 'none';
      };
      // A mobile browser widens the layout viewport to fit content that overflows, so measure
      // against the phone's width, not innerWidth.
      const width = phoneWidth;
      const overflowing: string[] = [];
      const tinyText: string[] = [];
      const smallTargets: string[] = [];
      for (const el of Array.from(document.body.querySelectorAll('*'))) {
        if (!visible(el) || el.tagName === 'SCRIPT') continue;
        const rect = el.getBoundingClientRect();
        if (rect.right > width + 0.5 || rect.left < -0.5)
          overflowing.push(`${label(el)} [${Math.round(rect.left)}..${Math.round(rect.right)}]`);
        const ownText = Array.from(el.childNodes).some(
          (n) => n.nodeType === Node.TEXT_NODE && n.textContent?.trim(),
        );
        if (ownText) {
          // SVG text scales with its drawing (viewBox): the size that counts is the rendered one.
          const svg = el instanceof SVGElement ? el.ownerSVGElement : null;
          const box = svg?.viewBox.baseVal;
          const scale = svg && box && box.width > 0 ? svg.getBoundingClientRect().width / box.width : 1;
          const px = Number.parseFloat(getComputedStyle(el).fontSize) * scale;
          if (px < minFont - 0.01) tinyText.push(`${label(el)} ${px.toFixed(1)}px`);
        }
        const interactive =
          el.matches('button, input:not([type=hidden]), select, textarea') ||
          (el.matches('a[href]') && getComputedStyle(el).display !== 'inline');
        if (interactive && (rect.width < minTarget || rect.height < minTarget))
          smallTargets.push(`${label(el)} ${Math.round(rect.width)}x${Math.round(rect.height)}`);
      }
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        overflowing,
        tinyText,
        smallTargets,
      };
    },
    { minFont: MIN_FONT, minTarget: MIN_TARGET, phoneWidth: PHONE.width },
  );
}

async function expectFitsPhone(page: Page, what: string): Promise<void> {
  const problems = await layoutProblems(page);
  // Content wider than the phone makes the browser widen (zoom out) the layout viewport.
  expect.soft(problems.innerWidth, `${what}: the layout viewport stays the phone's width`).toBe(PHONE.width);
  expect.soft(problems.scrollWidth, `${what}: no horizontal scrolling`).toBeLessThanOrEqual(PHONE.width);
  expect.soft(problems.overflowing, `${what}: elements past the viewport's edge`).toEqual([]);
  expect.soft(problems.tinyText, `${what}: text smaller than ${MIN_FONT}px`).toEqual([]);
  expect.soft(problems.smallTargets, `${what}: controls smaller than ${MIN_TARGET}px`).toEqual([]);
}

test('chat at phone width: sign-in, a busy room, and the landing page', async ({
  browser,
  startChat,
  startTracking,
}) => {
  const tracking = await startTracking();
  const chat = await startChat({ trackingPort: tracking.port });
  const alice = await phonePage(browser);
  const bob = await phonePage(browser);

  await alice.goto(chat.url);
  await expectFitsPhone(alice, 'chat sign-in');

  await signIn(alice, chat.url, 'alice');
  await signIn(bob, chat.url, 'bob-with-a-long-name');
  await say(bob, 'Lunch at noon?');
  await say(alice, 'Sure. The place with the good soup?');
  await say(bob, 'https://example.com/a/very/long/link/without/any/spaces/in/it/that/must/wrap/somewhere');
  await expect(alice.locator('#messages li.msg')).toHaveCount(3);
  await bob.locator('#text').pressSequentially('see you');
  await expect(alice.locator('#typing')).toHaveText('bob-with-a-long-name is typing…');
  await expect(alice.locator('#online li')).toHaveCount(2);
  await expectFitsPhone(alice, 'chat room');
  await alice.screenshot({ path: shot('chat-phone') });

  const start = await phonePage(browser);
  await start.goto(`${chat.url}/start`);
  await expect(start.locator('#driver')).toHaveAttribute('href', /driver\.html\?order=/);
  await expectFitsPhone(start, 'landing page');
  await start.screenshot({ path: shot('start-phone'), fullPage: true });
});

test('tracking at phone width: landing, driver, customer and admin pages', async ({
  browser,
  startTracking,
}) => {
  const tracking = await startTracking();
  const index = await phonePage(browser);
  await index.goto(tracking.url);
  await expectFitsPhone(index, 'tracking landing');

  const driver = await phonePage(browser);
  const customer = await phonePage(browser);
  const admin = await phonePage(browser);
  await admin.goto(`${tracking.url}/admin.html`);
  await driver.goto(`${tracking.url}/driver.html?order=phone-1&steps=16`);
  await customer.goto(`${tracking.url}/customer.html?order=phone-1`);
  await expect(driver.locator('#conn')).toHaveAttribute('data-state', 'open');
  await expect(customer.locator('#conn')).toHaveAttribute('data-state', 'open');

  await driver.locator('#statuses li[data-status="picked-up"] button').click();
  await expect(driver.locator('#statuses li[data-status="picked-up"] .seen')).toBeVisible();
  await driver.locator('#drive').click();
  await expect
    .poll(async () => Number(await customer.locator('#updates').textContent()), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(6);
  await driver.locator('#drive').click();
  await expect(customer.locator('#courier')).toBeVisible();
  await expect(customer.locator('#toast')).toBeHidden({ timeout: 6_000 });

  await expectFitsPhone(driver, 'driver');
  await expectFitsPhone(customer, 'customer');
  await expect
    .poll(async () => Number(await admin.locator('#ticks').textContent()))
    .toBeGreaterThanOrEqual(4);
  await expectFitsPhone(admin, 'admin');

  await driver.screenshot({ path: shot('tracking-driver-phone') });
  await customer.screenshot({ path: shot('tracking-customer-phone') });
  await admin.screenshot({ path: shot('tracking-admin-phone'), fullPage: true });
});
