import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs users' test files under `node --test` against the built package (dist/), through the
// package's own name and exports map: what an app that installed @tether/testing would load.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(new URL('../dist/index.js', import.meta.url));

function nodeTest(file: string) {
  return spawnSync(process.execPath, ['--test', '--test-reporter=spec', `test/fixtures/${file}`], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe.runIf(built)('under node:test (built package)', () => {
  it('runs an ESM test file: requests, a cut and a fence', () => {
    const run = nodeTest('node-test-user.mjs');
    expect(run.stdout + run.stderr).toMatch(/pass 2/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  it('runs a CommonJS test file and exits, so close() left nothing open', () => {
    const run = nodeTest('node-test-user.cjs');
    expect(run.stdout + run.stderr).toMatch(/pass 1/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });
});

if (!built) it.skip('needs `pnpm build` first to test the built package under node:test', () => {});
