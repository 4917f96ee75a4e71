// `pnpm test`: every test of the repository, then one plain closing line
// ("tests: N passed, N failed") that any CI can read, whatever the runners print.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

// Colour codes from the runners, written without a control character in a regex literal.
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

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

// Deno and Bun for the runtime smoke test (packages/testing/test/runtimes.test.ts): both ship
// their binaries inside npm packages, so they install like any dependency, into .tmp/ where they
// stay between runs. Pinned, so a new release cannot change what the smoke test means.
const runtimes = join(root, '.tmp', 'runtimes');
const denoBin = join(runtimes, 'node_modules', 'deno', 'deno');
const bunBin = join(runtimes, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
if (process.platform === 'linux' && process.arch === 'x64' && !(existsSync(denoBin) && existsSync(bunBin))) {
  mkdirSync(runtimes, { recursive: true });
  const args = ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', runtimes];
  if (run('deno and bun', 'npm', [...args, 'deno@2.9.6', '@oven/bun-linux-x64@1.4.5']) !== 0)
    console.log('deno and bun did not install: the runtime smoke test will say it was skipped');
}
const runtimeEnv = {};
if (existsSync(denoBin)) runtimeEnv.TETHER_DENO = denoBin;
if (existsSync(bunBin)) runtimeEnv.TETHER_BUN = bunBin;

const vitestFile = join(out, 'vitest.json');
const vitestStatus = run(
  'vitest',
  'pnpm',
  ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestFile}`],
  runtimeEnv,
);
// The chaos suite (chaos/): real Redis and node processes under faults, bounded (CHAOS_MIX_MS).
const chaosFile = join(out, 'chaos.json');
const chaosArgs = ['exec', 'vitest', 'run', '--config', 'chaos/vitest.config.ts', '--reporter=default'];
const chaosStatus = run('chaos', 'pnpm', [...chaosArgs, '--reporter=json', `--outputFile.json=${chaosFile}`]);
const playwrightFile = join(out, 'playwright.json');
const playwrightStatus = run('playwright', 'pnpm', ['exec', 'playwright', 'test', '--reporter=list,json'], {
  PLAYWRIGHT_JSON_OUTPUT_NAME: playwrightFile,
});

const vitest = readJson(vitestFile);
const chaos = readJson(chaosFile);
const playwright = readJson(playwrightFile);
const counts = {
  passed:
    (vitest?.numPassedTests ?? 0) +
    (chaos?.numPassedTests ?? 0) +
    (playwright?.stats?.expected ?? 0) +
    (playwright?.stats?.flaky ?? 0),
  failed: (vitest?.numFailedTests ?? 0) + (chaos?.numFailedTests ?? 0) + (playwright?.stats?.unexpected ?? 0),
  skipped: (vitest?.numPendingTests ?? 0) + (vitest?.numTodoTests ?? 0) + (playwright?.stats?.skipped ?? 0),
};
// A runner that crashed before writing results counts as a failure, not as zero tests.
if (!vitest && vitestStatus !== 0) counts.failed++;
if (!chaos && chaosStatus !== 0) counts.failed++;
if (!playwright && playwrightStatus !== 0) counts.failed++;

// The runners' own output is long and CI logs are often cut to their end, so the names of the
// failures are repeated here, last, where a truncated log still shows them.
const failures = [
  ...vitestFailures('vitest', vitest),
  ...vitestFailures('chaos', chaos),
  ...playwrightFailures(playwright),
];
if (failures.length > 0) {
  console.log('\nfailed tests:');
  for (const line of failures) console.log(`  ${line}`);
}

console.log(
  `\nvitest: ${vitest?.numPassedTests ?? '?'} passed, ${vitest?.numFailedTests ?? '?'} failed (exit ${vitestStatus})`,
);
console.log(
  `playwright: ${playwright?.stats?.expected ?? '?'} passed, ${playwright?.stats?.unexpected ?? '?'} failed (exit ${playwrightStatus})`,
);
console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(
  vitestStatus === 0 &&
    chaosStatus === 0 &&
    playwrightStatus === 0 &&
    counts.failed === 0 &&
    counts.passed > 0
    ? 0
    : 1,
);

function firstLine(text) {
  return String(text ?? '')
    .replace(ANSI_COLOUR, '')
    .trim()
    .split('\n')[0]
    .slice(0, 300);
}

function vitestFailures(runner, report) {
  const lines = [];
  for (const file of report?.testResults ?? []) {
    const path = relative(process.cwd(), file.name);
    const failed = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failed) {
      lines.push(`${runner} ${path} > ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`);
    }
    // A file that failed outside any test (an import error, a hook) has no failed test to name.
    if (failed.length === 0 && file.status === 'failed')
      lines.push(`${runner} ${path}: ${firstLine(file.message)}`);
  }
  return lines;
}

function playwrightFailures(report) {
  const lines = [];
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      if (spec.ok) continue;
      const result = spec.tests?.[0]?.results?.at(-1);
      lines.push(
        `playwright ${spec.file}:${spec.line} > ${spec.title}: ${firstLine(result?.error?.message)}`,
      );
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of report?.suites ?? []) walk(suite);
  return lines;
}
