// `pnpm test`: every test of the repository, then one plain closing line
// ("tests: N passed, N failed") that any CI can read, whatever the runners print.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, '.tmp', 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

function run(label, command, args, env = {}) {
  const started = Date.now();
  console.log(`\n==> ${label}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(`<== ${label}: exit ${result.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result.status ?? 1;
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

if (run('system programs', process.execPath, [join(root, 'scripts/system-deps.mjs')]) !== 0) process.exit(1);
if (run('build', 'pnpm', ['build']) !== 0) process.exit(1);

const vitestFile = join(out, 'vitest.json');
const vitestStatus = run('vitest', 'pnpm', [
  'exec',
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${vitestFile}`,
]);
const playwrightFile = join(out, 'playwright.json');
const playwrightStatus = run('playwright', 'pnpm', ['exec', 'playwright', 'test', '--reporter=list,json'], {
  PLAYWRIGHT_JSON_OUTPUT_NAME: playwrightFile,
});

const vitest = readJson(vitestFile);
const playwright = readJson(playwrightFile);
const counts = {
  passed:
    (vitest?.numPassedTests ?? 0) + (playwright?.stats?.expected ?? 0) + (playwright?.stats?.flaky ?? 0),
  failed: (vitest?.numFailedTests ?? 0) + (playwright?.stats?.unexpected ?? 0),
  skipped: (vitest?.numPendingTests ?? 0) + (vitest?.numTodoTests ?? 0) + (playwright?.stats?.skipped ?? 0),
};
// A runner that crashed before writing results counts as a failure, not as zero tests.
if (!vitest && vitestStatus !== 0) counts.failed++;
if (!playwright && playwrightStatus !== 0) counts.failed++;

console.log(
  `\nvitest: ${vitest?.numPassedTests ?? '?'} passed, ${vitest?.numFailedTests ?? '?'} failed (exit ${vitestStatus})`,
);
console.log(
  `playwright: ${playwright?.stats?.expected ?? '?'} passed, ${playwright?.stats?.unexpected ?? '?'} failed (exit ${playwrightStatus})`,
);
console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(
  vitestStatus === 0 && playwrightStatus === 0 && counts.failed === 0 && counts.passed > 0 ? 0 : 1,
);
