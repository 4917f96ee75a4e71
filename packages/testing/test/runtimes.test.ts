import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Smoke test of the built server and client under Deno and Bun: one process each, a request, a
// direct emit, a join and a room broadcast (test/fixtures/runtime-smoke.mjs). Neither runtime is
// a dependency of the repository: both install from npm (`npm i deno @oven/bun-linux-x64` in any
// folder), and the test finds them through TETHER_DENO / TETHER_BUN or on PATH, and is skipped
// (saying so) without them.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const built =
  existsSync(new URL('../../server/dist/index.js', import.meta.url)) &&
  existsSync(new URL('../../client/dist/node.js', import.meta.url));

function find(envVar: string, name: string): string | undefined {
  const given = process.env[envVar];
  if (given) return existsSync(given) ? given : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

type Outcome = Record<'request' | 'direct' | 'join' | 'broadcast' | 'transport', string>;

function smoke(command: string, args: string[]): Outcome {
  const run = spawnSync(command, [...args, 'test/fixtures/runtime-smoke.mjs'], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Outcome;
  } catch {
    throw new Error(`no result from ${command} (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
}

const deno = find('TETHER_DENO', 'deno');
const bun = find('TETHER_BUN', 'bun');

describe.runIf(built && deno)('under Deno', () => {
  it('serves and connects: request, direct emit, join, room broadcast', () => {
    expect(smoke(deno as string, ['run', '-A'])).toEqual({
      request: 'ok',
      direct: 'ok',
      join: 'ok',
      broadcast: 'ok',
      transport: 'websocket',
    });
  });
});

describe.runIf(built && bun)('under Bun', () => {
  it('serves and connects: request, direct emit, join, room broadcast', () => {
    // Bun's built-in `ws` lacks the internals the broadcast fast path uses; the server falls back
    // to the public API there (packages/server/src/transports/ws-internals.ts).
    expect(smoke(bun as string, [])).toEqual({
      request: 'ok',
      direct: 'ok',
      join: 'ok',
      broadcast: 'ok',
      transport: 'websocket',
    });
  });
});

// A visible skip, naming what is missing, rather than silence.
if (!(built && deno && bun)) {
  it.skip(`needs built packages (${built}), deno (${deno ?? 'missing'}) and bun (${bun ?? 'missing'}): set TETHER_DENO / TETHER_BUN or PATH`, () => {});
}
