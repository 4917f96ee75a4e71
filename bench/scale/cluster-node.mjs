// Several Tether nodes sharing one port through Node's cluster module, for bench/scale/hundred-k.mjs.
//
// The primary forks WORKERS workers; each is a Tether node (its own TetherServer on a RedisBus to
// REDIS_URL). Every worker listens on the same port on ADDRESSES loopback addresses (127.0.0.1,
// 127.0.0.2, ...): the cluster's round-robin primary accepts each connection and hands it to the
// next live worker, so clients need one URL per address, and a client whose worker dies reconnects
// to the same URL and lands on another worker (the primary plays the load balancer). Several
// destination addresses give every one of them its own ephemeral-port range, so 100 000 sockets
// from 127.0.0.1 fit. A dead worker is not replaced: the bench measures the others taking over.
//
// The primary is driven over IPC (lib.mjs `worker`): `info`, `ask` (a command to every live
// worker), `kill` (SIGKILL one worker), `close`. Environment: WORKERS, ADDRESSES, HEARTBEAT_MS,
// REDIS_URL, STREAM_ROOM (a room with long history, so reconnecting clients can recover it),
// SERVER_NODE_OPTIONS (node flags for the workers).
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { freePort, serve } from './lib.mjs';

const WINDOW_MS = 100;
const addresses = Number(process.env.ADDRESSES ?? 8);

if (cluster.isPrimary) await primary();
else await node();

async function primary() {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  // Extra V8 flags for the nodes only (e.g. a smaller young generation), space-separated.
  const extra = (process.env.SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...extra] });
  const port = await freePort();
  const count = Number(process.env.WORKERS ?? 4);
  const workers = [];
  const exits = [];
  let seq = 0;
  const pending = new Map();
  for (let i = 0; i < count; i++) {
    const w = cluster.fork({ PORT: String(port), NODE_INDEX: String(i) });
    w.on('message', (msg) => {
      if (msg?.type === 'ready') w.ready?.();
      const entry = pending.get(msg?.id);
      if (!entry) return;
      pending.delete(msg.id);
      clearTimeout(entry.timer);
      if (msg.error) entry.reject(new Error(msg.error));
      else entry.resolve(msg.result);
    });
    // A send to a worker that just died fails with EPIPE; its exit is recorded below instead.
    w.on('error', () => {});
    w.on('exit', (code, signal) =>
      exits.push({ index: i, pid: w.process.pid, code, signal, at: Date.now() }),
    );
    workers.push(w);
  }
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('a worker did not start in 30 s')), 30_000);
          w.ready = () => {
            clearTimeout(timer);
            resolve();
          };
        }),
    ),
  );
  const live = () => workers.filter((w) => !w.isDead());
  const ask = (w, cmd, payload, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${w.process.pid}: ${cmd} timed out`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      w.send({ id, cmd, payload });
    });

  serve({
    info: () => ({
      port,
      addresses,
      primaryPid: process.pid,
      workers: workers.map((w, index) => ({ index, pid: w.process.pid, alive: !w.isDead() })),
      exits,
    }),
    ask: ({ cmd, payload, timeoutMs }) =>
      Promise.all(
        live().map(async (w) => ({ pid: w.process.pid, ...(await ask(w, cmd, payload, timeoutMs)) })),
      ),
    kill: ({ index }) => {
      const w = workers[index];
      const at = Date.now();
      w.process.kill('SIGKILL');
      return { pid: w.process.pid, at };
    },
    async close() {
      await Promise.allSettled(live().map((w) => ask(w, 'close', {}, 10_000)));
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    },
  });
}

async function node() {
  const { RedisBus } = await import('@tether/redis-bus');
  const { TetherServer } = await import('@tether/server');
  const stream = process.env.STREAM_ROOM ?? 'stream';
  const bus = new RedisBus({ url: process.env.REDIS_URL });
  const http = createServer((_req, res) => res.end('ok'));
  const tether = new TetherServer({
    server: http,
    bus,
    heartbeat: { intervalMs: Number(process.env.HEARTBEAT_MS ?? 25_000) },
    authorizeJoin: () => true,
    // The stream keeps enough history (5 000 messages, 10 min) to outlast the reconnect storm;
    // every other room has Tether's default.
    history: (room) => (room === stream ? { size: 5000, ttlMs: 600_000 } : { size: 100, ttlMs: 120_000 }),
    rateLimit: false,
  });
  // Connections accepted per 100 ms window: the reconnect storm's rate as this node sees it.
  const windows = new Map();
  tether.on('connection', () => {
    const w = Math.floor(Date.now() / WINDOW_MS);
    windows.set(w, (windows.get(w) ?? 0) + 1);
  });
  const port = Number(process.env.PORT);
  const listen = (server, host) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
  await listen(http, '127.0.0.1');
  // The other addresses hand their sockets to the same HTTP server (Node documents emitting
  // 'connection' for exactly this), so one TetherServer serves them all.
  const extra = [];
  for (let i = 2; i <= addresses; i++) {
    const tcp = createTcpServer((socket) => http.emit('connection', socket));
    await listen(tcp, `127.0.0.${i}`);
    extra.push(tcp);
  }
  const gc = () => {
    globalThis.gc?.();
    globalThis.gc?.();
  };
  serve({
    stats: ({ since = 0 } = {}) => ({
      connections: tether.connections.size,
      windows: [...windows].filter(([w]) => w * WINDOW_MS >= since),
    }),
    mem: () => {
      gc();
      return { ...process.memoryUsage(), connections: tether.connections.size };
    },
    async close() {
      for (const tcp of extra) tcp.close();
      await tether.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await bus.close();
    },
  });
  process.send({ type: 'ready' });
}
