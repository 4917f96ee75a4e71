// The server under test: one child process per node. Controlled over IPC by run.mjs.
import { createServer } from 'node:http';
import { cpuUs, makePayload, nextMacrotask, nowUs, sleep } from './lib/util.mjs';
import { serve } from './lib/worker.mjs';

let adapter;
let httpServer;

async function init({ stack, room = 'bench', heartbeatMs, redisUrl, nodeId, noRateLimit }) {
  const mod = await import(`./servers/${stack}-server.mjs`);
  await mod.load({ redis: Boolean(redisUrl) });
  httpServer = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  adapter = await mod.create({ httpServer, room, heartbeatMs, redisUrl, nodeId, noRateLimit });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  return { port: httpServer.address().port, pid: process.pid };
}

function mem() {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

async function gcMem({ rounds = 4 } = {}) {
  if (typeof globalThis.gc !== 'function') throw new Error('run the server with --expose-gc');
  for (let i = 0; i < rounds; i++) {
    globalThis.gc();
    await sleep(100);
  }
  return mem();
}

async function waitReady({ n, exact = false, timeoutMs = 30000 }) {
  const end = Date.now() + timeoutMs;
  const done = () => (exact ? adapter.ready() === n : adapter.ready() >= n);
  while (!done() && Date.now() < end) await sleep(25);
  return { ready: adapter.ready() };
}

// Publish `count` messages (or stop at durationMs) as fast as backpressure allows: `batch`
// messages per macrotask, then wait on the adapter's backpressure signal, if it has one, and on
// the publish promises, if publish returns them.
async function broadcast({ count, durationMs, batch = 10 }) {
  const t0 = nowUs();
  const deadline = t0 + durationMs * 1000;
  let sent = 0;
  let waits = 0;
  const promises = [];
  while (sent < count && nowUs() < deadline) {
    const bp = adapter.backpressure?.();
    if (bp) {
      waits++;
      await bp;
      continue;
    }
    const n = Math.min(batch, count - sent);
    for (let i = 0; i < n; i++) {
      const r = adapter.publish(makePayload(sent++));
      if (r && typeof r.then === 'function') promises.push(r);
    }
    if (promises.length) {
      await Promise.all(promises);
      promises.length = 0;
    }
    await nextMacrotask();
  }
  return { sent, t0, t1: nowUs(), waits };
}

// Publish at a fixed rate (for latency measurements that are not dominated by queueing).
async function paced({ rate, durationMs }) {
  const t0 = nowUs();
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1e6 / rate;
  const promises = [];
  let sent = 0;
  while (sent < total) {
    const due = t0 + sent * interval;
    const wait = (due - nowUs()) / 1000;
    if (wait > 1) await sleep(wait);
    const r = adapter.publish(makePayload(sent++));
    if (r && typeof r.then === 'function') promises.push(r);
  }
  await Promise.all(promises);
  return { sent, t0, t1: nowUs() };
}

// Server CPU and request count over a window that starts after delayMs.
async function cpuWindow({ delayMs = 0, durationMs }) {
  if (delayMs) await sleep(delayMs);
  const c0 = process.cpuUsage();
  const s0 = adapter.served();
  const t0 = nowUs();
  await sleep(durationMs);
  const cpu = cpuUs(process.cpuUsage(c0));
  return { cpuUs: cpu, served: adapter.served() - s0, wallUs: nowUs() - t0 };
}

serve({
  init,
  ready: () => ({ ready: adapter.ready() }),
  waitReady,
  mem,
  gcMem,
  cpu: () => ({ cpuUs: cpuUs(process.cpuUsage()), t: nowUs() }),
  broadcast,
  paced,
  cpuWindow,
  info: () => ({ ...(adapter.info?.() ?? {}), ready: adapter.ready(), served: adapter.served() }),
  async close() {
    await adapter?.close();
    httpServer?.closeAllConnections?.();
    await new Promise((r) => httpServer.close(() => r()));
  },
  exit: () => {},
});
