#!/usr/bin/env node
/**
 * Runs an example on two nodes that share a RedisBus, behind a tiny round-robin TCP proxy:
 *
 *   node examples/cluster.mjs chat       # http://localhost:3000
 *   node examples/cluster.mjs tracking   # http://localhost:3001
 *
 * REDIS_URL picks the Redis to use; without it, a private `redis-server` is started on a free
 * port (and stopped on exit). PORT sets the proxy's port. Each new TCP connection goes to the
 * next node in turn, with no stickiness, so a page's reconnect usually lands on the other node:
 * stop a node (its pid is printed) and watch the pages move to the survivor.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXAMPLES = { chat: 3000, tracking: 3001 };
const here = dirname(fileURLToPath(import.meta.url));
const example = process.argv[2] ?? 'chat';
if (!(example in EXAMPLES)) {
  console.error(`usage: node examples/cluster.mjs <${Object.keys(EXAMPLES).join('|')}>`);
  process.exit(2);
}
const proxyPort = Number(process.env.PORT ?? EXAMPLES[example]);
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a child and resolves once `ready(line)` matches a line of its output. */
function startChild(name, command, args, env, ready, timeoutMs = 15_000) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onLine = (chunk) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        if (name !== 'redis') console.log(`[${name}] ${line}`);
        if (ready(line)) {
          clearTimeout(timer);
          resolve(child);
        }
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code}`));
    });
  });
}

async function redisUrl() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  try {
    await startChild('redis', 'redis-server', args, {}, (line) => /ready to accept connections/i.test(line));
  } catch (err) {
    throw new Error(
      `${err.message}\nSet REDIS_URL=redis://host:port, or install Redis (Debian: apt-get install redis-server).`,
    );
  }
  console.log(`started redis-server on port ${port} (stopped on exit)`);
  return `redis://127.0.0.1:${port}`;
}

/** Round robin over `targets`, one TCP connection at a time; bytes are piped untouched. */
function startProxy(targets) {
  let next = 0;
  const sockets = new Set();
  const server = createServer((client) => {
    const target = targets[next++ % targets.length];
    const upstream = connect(target.port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // Either side failing ends both: the browser sees a dropped connection and reconnects.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.closeAll = () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  };
  return server;
}

let proxy;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  proxy?.closeAll();
  // Nodes first (they leave the bus cleanly), Redis last.
  const nodes = children.slice().reverse();
  for (const child of nodes) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    await Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(resolve, 5_000))]);
  }
  process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
// However this process ends, it takes its nodes and its Redis with it.
process.on('exit', () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

try {
  const url = await redisUrl();
  const nodes = [];
  for (const suffix of ['a', 'b']) {
    const port = await freePort();
    const name = `${example}-${suffix}`;
    const child = await startChild(
      name,
      process.execPath,
      [join(here, example, 'server.mjs')],
      { PORT: String(port), REDIS_URL: url, NODE_NAME: name },
      (line) => line.includes(`on http://localhost:${port}`),
    );
    child.on('exit', (code, signal) => {
      if (!stopping)
        console.log(
          `[${name}] exited (${signal ?? code}); the proxy still sends every other connection to it`,
        );
    });
    nodes.push({ name, port, pid: child.pid });
  }
  proxy = startProxy(nodes);
  proxy.listen(proxyPort);
  await once(proxy, 'listening');
  console.log(
    `\n${example} on 2 nodes: http://localhost:${proxyPort}  (round robin over ${nodes.map((n) => `${n.name} :${n.port} pid ${n.pid}`).join(', ')})`,
  );
  console.log('Ctrl-C stops everything.');
} catch (err) {
  console.error(err.message);
  await stop(1);
}
