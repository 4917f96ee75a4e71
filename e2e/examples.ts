/**
 * Fixtures and page helpers for the specs that drive the example apps (examples/chat,
 * examples/tracking) in Chromium. Builds on ./fixtures.ts (proxies, redis, page errors).
 *
 * Every server, browser context and proxy a test starts through these fixtures is closed when
 * the test ends, pass or fail.
 */
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { type ChatOptions, type RunningExample, startChat as startChatApp } from '../examples/chat/app.mjs';
import { startTracking as startTrackingApp, type TrackingOptions } from '../examples/tracking/app.mjs';
import { test as base, expect } from './fixtures.js';

export { delay, expect, waitFor } from './fixtures.js';
export type { RunningExample };

export interface ExampleFixtures {
  /** Starts the chat example (port 0 unless told); closed after the test unless already closed. */
  startChat: (options?: ChatOptions) => Promise<RunningExample>;
  /** Starts the tracking example (port 0 unless told); closed after the test. */
  startTracking: (options?: TrackingOptions) => Promise<RunningExample>;
  /** A fresh browser context (own storage, like another person's browser) with one page. */
  newPage: () => Promise<Page>;
}

export const test = base.extend<ExampleFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern.
  startChat: async ({}, use) => {
    const running: RunningExample[] = [];
    await use(async (options) => {
      const app = await startChatApp({ port: 0, host: '127.0.0.1', ...options });
      running.push(app);
      return app;
    });
    await Promise.all(running.map((app) => app.close()));
  },

  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern.
  startTracking: async ({}, use) => {
    const running: RunningExample[] = [];
    await use(async (options) => {
      const app = await startTrackingApp({ port: 0, host: '127.0.0.1', metricsEveryMs: 500, ...options });
      running.push(app);
      return app;
    });
    await Promise.all(running.map((app) => app.close()));
  },

  newPage: async ({ browser }, use) => {
    const contexts: BrowserContext[] = [];
    // Uncaught exceptions and unhandled rejections of the example pages fail the test. (Console
    // errors do not: Chromium logs every refused reconnect attempt as one.)
    const uncaught: string[] = [];
    await use(async () => {
      const context = await (browser as Browser).newContext({ viewport: { width: 1100, height: 680 } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (error) => uncaught.push(`${page.url()}: ${error.message}`));
      return page;
    });
    await Promise.all(contexts.map((context) => context.close()));
    expect(uncaught, 'uncaught errors in the example pages').toEqual([]);
  },
});

// ---- chat page --------------------------------------------------------------------------------

/** Opens the chat page at `url`, signs in as `name` and waits until the client is open. */
export async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.locator('#name').fill(name);
  await page.locator('#login-form button').click();
  await expect(page.locator('#conn')).toHaveAttribute('data-state', 'open');
  // The first room is selected and its history loaded once the "Online" list shows us.
  await expect(page.locator(`#online li[data-name="${name}"]`)).toBeVisible();
}

/** Types a message into the composer and sends it. */
export async function say(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.locator('#text').press('Enter');
}

/** The texts of the messages shown in the active room, top to bottom. */
export function messageTexts(page: Page): Promise<string[]> {
  return page.locator('#messages li.msg .text').allTextContents();
}
