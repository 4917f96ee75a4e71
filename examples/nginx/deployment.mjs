/**
 * Several Tether nodes behind nginx on one machine, for the nginx example (start.mjs) and its
 * end-to-end test (packages/redis-bus/test/nginx.test.ts).
 *
 * - Redis: `redisUrl` when given (or REDIS_URL), otherwise a redis-server of its own, keeping
 *   nothing on disk.
 * - Nodes: `node node.mjs` child processes, each the chat example's server on 127.0.0.1 and a
 *   free port, sharing rooms through RedisBus.
 * - nginx: a generated nginx.conf in a temporary folder, plain round-robin over the nodes (no
 *   ip_hash, no sticky cookie), WebSocket upgrades proxied, responses unbuffered for SSE, run in
 *   the foreground (`daemon off`) as a child process.
 *
 * Every child is started through `setpriv --pdeathsig KILL` when available, so the kernel ends it
 * even if this process is killed outright; otherwise they are killed on exit and on signals.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SETPRIV = '/usr/bin/setpriv';
const NGINX_CANDIDATES = [
  '/usr/sbin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/bin/nginx',
  '/usr/local/nginx/sbin/nginx',
];
/** Longest wait for any one process to come up. */
const START_TIMEOUT_MS = 15_000;

/**
 * The nginx binary: `$NGINX`, else the first of the usual paths that exists; undefined when none.
 *
 * @example
 * if (!findNginx()) console.log('install nginx (apt-get install nginx-light)');
 */
export function findNginx() {
  if (process.env.NGINX) return existsSync(process.env.NGINX) ? process.env.NGINX : undefined;
  return NGINX_CANDIDATES.find((path) => existsSync(path));
}

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
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

const children = new Set();
let hooked = false;

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
  children.clear();
}

/** Spawns a child that does not outlive this process. */
function spawnChild(command, args, options) {
  const child = existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', killAll);
  }
  return child;
}

/**
 * Resolves with the first output line of `child` that `match` accepts; rejects when the child
 * exits first or after `timeoutMs`, with what it printed.
 */
function waitForLine(child, match, label, timeoutMs = START_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    let output = '';
    let pending = '';
    const done = (error, line) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(new Error(`${label}: ${error}\n--- output ---\n${output.trim() || '(none)'}`));
      else resolve(line);
    };
    const onData = (chunk) => {
      const text = chunk.toString();
      output = (output + text).slice(-8000);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const line = lines.find((l) => match(l));
      if (line !== undefined) done(undefined, line);
    };
    const onExit = (code, signal) => done(`exited (${signal ?? code}) before it was ready`);
    const timer = setTimeout(() => done(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Sends `signal`, then SIGKILL when the child is still there after `graceMs`. */
function stopChild(child, signal = 'SIGTERM', graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * The nginx configuration of the deployment.
 *
 * @param {{ port: number, upstreams: number[], dir: string, workers?: number | 'auto' }} options
 * @returns {string}
 * @example
 * nginxConfig({ port: 8080, upstreams: [3001, 3002, 3003], dir: '/tmp/x' });
 */
export function nginxConfig({ port, upstreams, dir, workers = 1 }) {
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n');
  return `# Generated by examples/nginx/deployment.mjs
worker_processes ${workers};
error_log ${dir}/error.log warn;

events {
  worker_connections 16384;
}

http {
  access_log off;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;

  # "Connection: upgrade" for WebSocket handshakes, "close" for everything else.
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  # Plain round-robin: no ip_hash, no sticky cookie. Any node can serve any request: rooms,
  # history, sessions and presence live in Redis, and an SSE POST that lands on another node
  # than its stream is forwarded over the bus.
  upstream tether {
${servers}
  }

  server {
    listen 127.0.0.1:${port};

    location / {
      proxy_pass http://tether;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;

      # SSE: every event leaves at once (Tether also sends X-Accel-Buffering: no).
      proxy_buffering off;
      proxy_cache off;
      # Long-lived streams: Tether's heartbeats (25 s) keep them busy well within this.
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      # A dead node refuses at once; the request goes to the next one.
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

/**
 * Starts Redis (unless given), `nodes` Tether nodes and nginx in front of them.
 *
 * @param {object} [options]
 * @param {number} [options.nodes] - default 3.
 * @param {number} [options.port] - nginx's port on 127.0.0.1; default a free one.
 * @param {string} [options.redisUrl] - default `$REDIS_URL`; without it a redis-server of its own.
 * @param {(line: string) => void} [options.log] - receives the nodes' and servers' output lines.
 * @example
 * const deployment = await startDeployment({ nodes: 3 });
 * console.log(deployment.url); // http://127.0.0.1:<port>
 * await deployment.stop();
 */
export async function startDeployment(options = {}) {
  const nginx = findNginx();
  if (!nginx)
    throw new Error('nginx not found: install it (apt-get install nginx-light) or set NGINX=/path/to/nginx');
  const count = options.nodes ?? 3;
  const log = options.log ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'tether-nginx-'));
  const started = { redis: undefined, nodes: [], nginx: undefined };

  const stop = async () => {
    await Promise.all(started.nodes.map((n) => stopChild(n.child)));
    if (started.nginx) await stopChild(started.nginx, 'SIGQUIT', 2000);
    if (started.redis) await stopChild(started.redis, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };

  const pipe = (child, label) => {
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream?.on('data', (chunk) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) log(`[${label}] ${line}`);
      });
    }
  };

  try {
    let redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (!redisUrl) {
      const port = await freePort();
      const redis = spawnChild(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      started.redis = redis;
      await waitForLine(redis, (l) => /ready to accept connections/i.test(l), 'redis-server');
      pipe(redis, 'redis');
      redisUrl = `redis://127.0.0.1:${port}`;
    }

    const nodes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const name = `node-${i + 1}`;
        const port = await freePort();
        const child = spawnChild(process.execPath, [join(here, 'node.mjs')], {
          env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, NODE_NAME: name },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const node = { name, port, child, pid: child.pid, kill: (signal = 'SIGKILL') => child.kill(signal) };
        started.nodes.push(node);
        await waitForLine(child, (l) => l.startsWith('{"ready":true'), name);
        pipe(child, name);
        return node;
      }),
    );

    const port = options.port ?? (await freePort());
    await mkdir(join(dir, 'temp'), { recursive: true });
    await writeFile(join(dir, 'nginx.conf'), nginxConfig({ port, upstreams: nodes.map((n) => n.port), dir }));
    const proxy = spawnChild(
      nginx,
      [
        '-p',
        dir,
        '-e',
        join(dir, 'error.log'),
        '-c',
        'nginx.conf',
        '-g',
        `daemon off; pid ${join(dir, 'nginx.pid')};`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.nginx = proxy;
    pipe(proxy, 'nginx');
    const url = `http://127.0.0.1:${port}`;
    await waitUntilServing(`${url}/healthz`, proxy);
    return { url, tetherUrl: `${url}/tether`, redisUrl, port, dir, nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Polls `url` until it answers 200 (nginx and a node behind it are up). */
async function waitUntilServing(url, child) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see its error.log`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nginx is not serving ${url} after ${START_TIMEOUT_MS} ms (${last})`);
}
