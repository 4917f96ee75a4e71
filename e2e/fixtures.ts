/**
 * Shared Playwright fixtures for the end-to-end specs. Import `test` and `expect` from here
 * instead of `@playwright/test`:
 *
 * ```ts
 * import { expect, test } from './fixtures.js';
 *
 * test('reconnects after a cut', async ({ page, startProxy }) => {
 *   const proxy = await startProxy({ target: { host: '127.0.0.1', port: server.port } });
 *   proxy.cut();
 * });
 * ```
 */
import { test as base, expect } from '@playwright/test';
import { RedisServer, TcpProxy, type TcpProxyOptions } from '../packages/test-utils/src/index.js';

export { delay, once, waitFor } from '../packages/test-utils/src/index.js';
export { expect };

/**
 * Fixtures every spec can ask for; each is created only when a test names it.
 *
 * @example
 * ```ts
 * test('uses redis', async ({ redis }) => {
 *   expect(await redisCli(redis.port, ['ping'])).toBe('PONG');
 * });
 * ```
 */
export interface TetherFixtures {
  /** Starts a {@link TcpProxy} that the test owns; every one started is closed after the test. */
  startProxy: (options: TcpProxyOptions) => Promise<TcpProxy>;
  /** A `redis-server` of the test's own, on a free port, stopped after the test. */
  redis: RedisServer;
  /**
   * Uncaught exceptions and `console.error` lines of `page`, as text, collected from the moment the
   * fixture is asked for. Assert `expect(pageErrors).toEqual([])` where a clean page matters.
   */
  pageErrors: string[];
}

/**
 * Playwright's `test` with the Tether fixtures.
 *
 * @example
 * ```ts
 * test('sees no errors', async ({ page, pageErrors }) => {
 *   await page.goto(url);
 *   expect(pageErrors).toEqual([]);
 * });
 * ```
 */
export const test = base.extend<TetherFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern.
  startProxy: async ({}, use) => {
    const proxies: TcpProxy[] = [];
    await use(async (options) => {
      const proxy = await TcpProxy.start(options);
      proxies.push(proxy);
      return proxy;
    });
    await Promise.all(proxies.map((proxy) => proxy.close()));
  },

  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern.
  redis: async ({}, use) => {
    const redis = await RedisServer.start();
    try {
      await use(redis);
    } finally {
      await redis.stop();
    }
  },

  pageErrors: async ({ page }, use) => {
    const errors: string[] = [];
    const onPageError = (error: Error) => errors.push(`pageerror: ${error.message}`);
    const onConsole = (message: { type(): string; text(): string }) => {
      if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
    };
    page.on('pageerror', onPageError);
    page.on('console', onConsole);
    await use(errors);
    page.off('pageerror', onPageError);
    page.off('console', onConsole);
  },
});
