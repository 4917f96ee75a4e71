/**
 * What a user gets from npm: packs the public packages with `pnpm pack`, installs the tarballs
 * with plain `npm install` into a fresh app outside the workspace, and uses them there from ESM,
 * from CommonJS, from TypeScript (node16 and bundler resolution) and from a browser page that
 * loads the client's browser build with no bundler.
 *
 * Assumes `pnpm build` ran (as `pnpm test` does); builds a package whose dist/ is missing.
 * Needs the npm registry (for ws, typescript and the other dependencies) and /usr/bin/chromium.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

interface Packed {
  name: string;
  dir: string;
  /** A file that exists once the package is built. */
  built: string;
}

const server: Packed = { name: '@tether/server', dir: 'packages/server', built: 'dist/index.js' };
const client: Packed = {
  name: '@tether/client',
  dir: 'packages/client',
  built: 'dist/browser/tether-client.js',
};
const redisBus: Packed = { name: '@tether/redis-bus', dir: 'packages/redis-bus', built: 'dist/index.js' };
const postgres: Packed = { name: '@tether/postgres', dir: 'packages/postgres', built: 'dist/index.js' };

const packages = [server, client, redisBus, postgres];

let work: string;
let app: string;
let tarballs: string;

/** Runs a command; rejects with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { cwd, timeout, env: cleanEnv(), maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`));
        else resolvePromise(stdout);
      },
    );
  });
}

/** The environment without what pnpm and vitest set for their own scripts, so npm behaves as for a user. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('npm_') && !keep.has(lower)) continue;
    // NODE_PATH: pnpm points it into the workspace's store, where every package is found.
    if (lower.startsWith('pnpm_') || key === 'NODE_OPTIONS' || key === 'NODE_ENV' || key === 'NODE_PATH')
      continue;
    env[key] = value;
  }
  return env;
}

beforeAll(async () => {
  for (const pkg of packages) {
    if (!existsSync(join(repo, pkg.dir, pkg.built)))
      await run('pnpm', ['--filter', pkg.name, 'run', 'build'], repo, 170_000);
  }
  // Outside the workspace, so nothing resolves through its node_modules or its pnpm settings.
  work = mkdtempSync(join(tmpdir(), 'tether-packaging-'));
  tarballs = join(work, 'tarballs');
  app = join(work, 'app');
  mkdirSync(tarballs);
  mkdirSync(app);
  for (const pkg of packages)
    await run('pnpm', ['pack', '--pack-destination', tarballs], join(repo, pkg.dir), 60_000);
  const packed = readdirSync(tarballs).filter((file) => file.endsWith('.tgz'));
  expect(packed).toHaveLength(packages.length);

  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'tether-consumer', version: '1.0.0', private: true }, null, 2),
  );
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(app, file));
  // One consumer source, checked as ESM (.mts) and CommonJS (.cts) under node16.
  copyFileSync(join(fixtures, 'consumer.ts'), join(app, 'consumer.mts'));
  copyFileSync(join(fixtures, 'consumer.ts'), join(app, 'consumer.cts'));
  copyFileSync(join(fixtures, 'consumer-redis.ts'), join(app, 'consumer-redis.mts'));
  copyFileSync(join(fixtures, 'consumer-redis.ts'), join(app, 'consumer-redis.cts'));

  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      ...packed.map((file) => join(tarballs, file)),
      // The optional peer dependency the msgpack entry points need (esm.mjs and cjs.cjs import them).
      'msgpackr@^2.1.4',
      'typescript@5.9',
      '@types/node@20',
    ],
    app,
    170_000,
  );
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a script of the app with node; it must print one JSON line and exit on its own. */
async function runScript(file: string, cwd = app): Promise<Record<string, unknown>> {
  const stdout = await run(process.execPath, [file], cwd, 20_000);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}

const expectedRun = {
  sum: 5,
  received: [
    [{ from: 'server' }, 1],
    [{ from: 'emitter' }, 2],
  ],
  transport: 'websocket',
  codecs: ['function', 'function'],
  // TetherEmitter from @tether/redis-bus is the one from @tether/server, not a copy.
  redisBus: { RedisBus: 'function', sameEmitter: true },
  postgres: { PostgresInbox: 'function' },
};

describe('installed from the packed tarballs', () => {
  it('works from ESM: request, room messages from the server and an emitter, clean exit', async () => {
    const result = await runScript('esm.mjs');
    expect(result).toEqual(expectedRun);
  });

  it('works from CommonJS with require()', async () => {
    const result = await runScript('cjs.cjs');
    expect(result).toEqual(expectedRun);
  });

  it('type-checks a TypeScript consumer under node16 (ESM and CJS), bundler, and the browser condition', async () => {
    const strict = {
      target: 'es2022',
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      lib: ['es2022'],
    };
    const configs = {
      'tsconfig.node16.json': {
        compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' },
        files: ['consumer.mts', 'consumer.cts', 'consumer-redis.mts', 'consumer-redis.cts'],
      },
      'tsconfig.bundler.json': {
        // A bundler app checks every declaration file too (skipLibCheck stays false), as the node16 run does.
        compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' },
        files: ['consumer.ts', 'consumer-redis.ts'],
      },
      'tsconfig.browser.json': {
        compilerOptions: {
          ...strict,
          module: 'esnext',
          moduleResolution: 'bundler',
          customConditions: ['browser'],
          types: [],
          lib: ['es2022', 'dom'],
        },
        files: ['browser-consumer.ts'],
      },
    };
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    // Independent programs: run side by side.
    await Promise.all(
      Object.entries(configs).map(([name, config]) => {
        writeFileSync(join(app, name), JSON.stringify(config, null, 2));
        return run(process.execPath, [tsc, '-p', name], app, 90_000);
      }),
    );
  });

  describe('in a browser', () => {
    let browser: Browser | undefined;
    let page: ChildProcess | undefined;
    afterAll(async () => {
      await browser?.close();
      page?.kill();
    });

    it('loads the browser build with <script type="module"> and talks to a server', async () => {
      const manifest = JSON.parse(
        readFileSync(join(app, 'node_modules/@tether/client/package.json'), 'utf8'),
      );
      const condition = manifest.exports['.'].browser;
      const fromExports: string =
        typeof condition === 'string' ? condition : (condition.default ?? condition.import);
      expect(manifest.browser ?? fromExports).toBe(fromExports);
      const browserFile = resolve(app, 'node_modules/@tether/client', fromExports);
      expect(readFileSync(browserFile, 'utf8')).not.toMatch(/\bfrom\s*["'](?![./])/); // no bare imports

      page = spawn(process.execPath, ['browser-server.mjs', browserFile], {
        cwd: app,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await new Promise<number>((resolvePort, reject) => {
        page!.once('exit', (code) => reject(new Error(`browser-server exited with ${code}`)));
        page!.stdout!.once('data', (chunk: Buffer) =>
          resolvePort(JSON.parse(chunk.toString().split('\n')[0]!).port),
        );
      });

      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-quic',
          '--no-first-run',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const tab = await browser.newPage();
      const errors: string[] = [];
      tab.on('pageerror', (err) => errors.push(err.message));
      tab.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      await tab.goto(`http://127.0.0.1:${port}/`);
      const handle = await tab.waitForFunction(
        () => (window as unknown as { __result?: unknown }).__result,
        null,
        { timeout: 20_000 },
      );
      const result = await handle.jsonValue();
      expect(errors).toEqual([]);
      expect(result).toEqual({ sum: 5, message: [{ from: 'browser' }, 1], transport: 'websocket' });
    });
  });
});

describe('installed without msgpackr (an app on JSON)', () => {
  let jsonApp: string;

  beforeAll(async () => {
    jsonApp = join(work, 'json-app');
    mkdirSync(jsonApp);
    writeFileSync(
      join(jsonApp, 'package.json'),
      JSON.stringify({ name: 'tether-json-consumer', version: '1.0.0', private: true }, null, 2),
    );
    copyFileSync(join(fixtures, 'json-only.mjs'), join(jsonApp, 'json-only.mjs'));
    const wanted = readdirSync(tarballs).filter((file) => /^tether-(server|client)-/.test(file));
    expect(wanted).toHaveLength(2);
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-update-notifier', ...wanted.map((f) => join(tarballs, f))],
      jsonApp,
      170_000,
    );
  }, 180_000);

  it('works over WebSocket and SSE, and the msgpack entry points say to install msgpackr', async () => {
    const result = await runScript('json-only.mjs', jsonApp);
    const refused = { tetherError: true, code: 'UNSUPPORTED_PROTOCOL', saysInstall: true };
    expect(result).toEqual({
      msgpackrFrom: null,
      runs: {
        websocket: { sum: 5, message: { via: 'websocket' }, transport: 'websocket' },
        sse: { sum: 5, message: { via: 'sse' }, transport: 'sse' },
      },
      msgpack: {
        '@tether/server/msgpack import': refused,
        '@tether/server/msgpack require': refused,
        '@tether/client/msgpack import': refused,
        '@tether/client/msgpack require': refused,
      },
    });
  });

  it('ships no declaration file that names msgpackr', () => {
    for (const pkg of ['server', 'client']) {
      const dist = join(jsonApp, 'node_modules', '@tether', pkg, 'dist');
      const declarations = readdirSync(dist).filter((file) => /\.d\.c?ts$/.test(file));
      expect(declarations.length).toBeGreaterThan(0);
      for (const file of declarations)
        expect(readFileSync(join(dist, file), 'utf8'), `${pkg}/dist/${file}`).not.toMatch(/['"]msgpackr['"]/);
    }
  });
});
