// Shared helpers of the capacity measurements in bench/scale/: child processes driven over IPC,
// Redis (one server, or a cluster of masters) started for a run, CPU and memory readings.
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SETPRIV = '/usr/bin/setpriv';
const children = new Set();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Spawns a process that dies with this one (setpriv --pdeathsig when available). */
export function spawnChild(command, args, options = {}) {
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Forks a Node worker script driven over IPC: `call(cmd, args)` resolves with its reply.
 * Every call is bounded by `timeoutMs`.
 */
export function worker(script, args = [], { env = {}, execArgv = [] } = {}) {
  const child = fork(script, args, {
    env: { ...process.env, ...env },
    execArgv: ['--expose-gc', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // A send racing the child's exit fails here; the pending calls are rejected on 'exit'.
  child.on('error', () => {});
  let seq = 0;
  const pending = new Map();
  child.on('message', (msg) => {
    const entry = pending.get(msg.id);
    if (!entry) return;
    pending.delete(msg.id);
    clearTimeout(entry.timer);
    if (msg.error) entry.reject(new Error(`${script}: ${msg.error}`));
    else entry.resolve(msg.result);
  });
  child.once('exit', (code) => {
    for (const entry of pending.values()) entry.reject(new Error(`${script} exited (${code})`));
    pending.clear();
  });
  return {
    child,
    pid: child.pid,
    call(cmd, payload = {}, timeoutMs = 120_000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: ${cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        if (!child.connected) {
          clearTimeout(timer);
          reject(new Error(`${script}: not running`));
          return;
        }
        pending.set(id, { resolve, reject, timer });
        child.send({ id, cmd, payload });
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      await Promise.race([this.call('close', {}, 10_000).catch(() => {}), sleep(10_000)]);
      child.kill('SIGKILL');
    },
  };
}

/** The worker side of {@link worker}: answers `{ id, cmd, payload }` with `handlers[cmd](payload)`. */
export function serve(handlers) {
  process.on('message', async ({ id, cmd, payload }) => {
    try {
      const handler = handlers[cmd];
      if (!handler) throw new Error(`unknown command ${cmd}`);
      const result = await handler(payload);
      process.send({ id, result: result ?? null });
      if (cmd === 'close') setTimeout(() => process.exit(0), 50);
    } catch (error) {
      process.send({ id, error: error instanceof Error ? error.stack : String(error) });
    }
  });
}

/** CPU seconds (user + system) a process used so far, from /proc. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** Resident memory of a process in bytes, from /proc. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Resident memory of a process split as the kernel counts it, in bytes: `anon` is its own
 * (heap, stacks, buffers), `file` is mapped files (mostly the node binary's code, the same
 * physical pages in every Node process), `rss` their sum.
 */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

/** Share of the whole machine's CPU used between two `/proc/stat` readings. */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = line[3] + line[4];
  const total = line.reduce((a, b) => a + b, 0);
  return { idle, total };
}

async function startRedisProcess(dir, port, extra = []) {
  const child = spawnChild(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready:\n${out}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (/ready to accept connections/i.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

/** A redis-server for one run: `{ url, port, pid, info(section), stop() }`. */
export async function startRedis() {
  const dir = await mkdtemp(join(tmpdir(), 'tether-scale-redis-'));
  const port = await freePort();
  const child = await startRedisProcess(dir, port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pids: [child.pid],
    ports: [port],
    async stop() {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis Cluster of `masters` masters (no replicas) for one run. */
export async function startCluster(masters = 3) {
  const dir = await mkdtemp(join(tmpdir(), 'tether-scale-cluster-'));
  const nodes = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    const busPort = await freePort();
    const nodeDir = join(dir, `n${i}`);
    spawnSync('mkdir', ['-p', nodeDir]);
    const child = await startRedisProcess(nodeDir, port, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-port',
      String(busPort),
    ]);
    nodes.push({ host: '127.0.0.1', port, child });
  }
  const created = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  for (let i = 0; i < 100; i++) {
    const ok = nodes.every((n) => redisCli(n.port, 'cluster', 'info').includes('cluster_state:ok'));
    if (ok) break;
    await sleep(100);
  }
  return {
    nodes: nodes.map(({ host, port }) => ({ host, port })),
    pids: nodes.map((n) => n.child.pid),
    ports: nodes.map((n) => n.port),
    async stop() {
      for (const n of nodes) n.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One redis-cli command's output. */
export function redisCli(port, ...args) {
  return (
    spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 }).stdout ?? ''
  );
}

/** `INFO <section>` as a Map. */
export function redisInfo(port, section) {
  const map = new Map();
  for (const line of redisCli(port, 'info', section).split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
}

/** Percentile of a sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Parses `--name value` and `--flag` arguments. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults))
      throw new Error(`unknown option --${key} (known: ${Object.keys(defaults).join(', ')})`);
    const next = argv[i + 1];
    if (typeof defaults[key] === 'boolean') out[key] = true;
    else {
      out[key] = typeof defaults[key] === 'number' ? Number(next) : next;
      i++;
    }
  }
  return out;
}

export const fmt = (n, digits = 0) =>
  Number(n).toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const mb = (bytes) => `${fmt(bytes / 1048576, 1)} MB`;
