import { defineConfig } from '@playwright/test';

// Browsers cannot be downloaded here: Playwright must use the system Chromium, never its own build.
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

/**
 * End-to-end tests in a real headless Chromium (Debian's `/usr/bin/chromium`).
 * One worker: the specs start real servers and cut real sockets, and two cores are not enough to
 * run that in parallel without timing noise.
 */
export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  forbidOnly: Boolean(process.env.CI),
  reporter: 'list',
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
