// Load generator: one child process holding many clients of one stack. Controlled over IPC.
import os from 'node:os';
import {
  cpuUs,
  encodeHistogram,
  localAddressFor,
  makePayload,
  newHistogram,
  nowUs,
  sleep,
} from './lib/util.mjs';
import { serve } from './lib/worker.mjs';

let mod;
const clients = [];
let received = 0;
let firstAt = 0;
let lastAt = 0;
let recordLatency = false;
let hist = newHistogram();
let waiter = null;
let cpu0 = process.cpuUsage();

function onMessage(data) {
  received++;
  this.n++;
  const now = nowUs();
  if (firstAt === 0) firstAt = now;
  lastAt = now;
  if (recordLatency && data && typeof data.t === 'number')
    hist.recordValue(Math.max(1, Math.round(now - data.t)));
  if (waiter && received >= waiter.expected) {
    const w = waiter;
    waiter = null;
    w.resolve();
  }
}

async function init({ stack }) {
  mod = await import(`./clients/${stack}-client.mjs`);
  await mod.load();
  return { supportsLocalAddress: mod.supportsLocalAddress !== false };
}

// Open `n` connections, `concurrency` at a time. With stopOnFailure, stop opening new ones once
// `maxFailures` have failed (the scale scenario's "as many as the machine holds").
async function connect({
  host = '127.0.0.1',
  port,
  n,
  concurrency = 100,
  addresses = 0,
  offset = 0,
  timeoutMs = 10000,
  deadlineMs = 120000,
  stopOnFailure = false,
  maxFailures = 20,
  minFreeMem = 1 << 30,
}) {
  const t0 = Date.now();
  let next = 0;
  let ok = 0;
  let failed = 0;
  let stopReason = null;
  const errors = new Map();
  const useLocal = addresses > 0 && mod.supportsLocalAddress !== false;
  async function lane() {
    while (next < n && !stopReason) {
      if (Date.now() - t0 > deadlineMs) {
        stopReason = `connect deadline ${deadlineMs} ms`;
        break;
      }
      if (stopOnFailure && os.freemem() < minFreeMem) {
        stopReason = `free memory below ${minFreeMem >> 20} MB`;
        break;
      }
      const i = next++;
      const state = { n: 0 };
      try {
        const c = await mod.connect({
          host,
          port,
          localAddress: useLocal ? localAddressFor(offset + i, addresses) : undefined,
          onMessage: onMessage.bind(state),
          timeoutMs,
        });
        c.state = state;
        clients.push(c);
        ok++;
      } catch (err) {
        failed++;
        const key = String(err?.code ?? err?.message ?? err).slice(0, 120);
        errors.set(key, (errors.get(key) ?? 0) + 1);
        if (stopOnFailure && failed >= maxFailures) stopReason = `${failed} connection failures`;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return {
    connected: ok,
    failed,
    total: clients.length,
    errors: Object.fromEntries(errors),
    stopReason,
    ms: Date.now() - t0,
    usedLocalAddress: useLocal,
  };
}

function reset({ latency = false } = {}) {
  received = 0;
  firstAt = 0;
  lastAt = 0;
  for (const c of clients) c.state.n = 0;
  recordLatency = latency;
  hist = newHistogram();
  cpu0 = process.cpuUsage();
  return { clients: clients.length };
}

function counts() {
  let zero = 0;
  let min = Number.POSITIVE_INFINITY;
  for (const c of clients) {
    if (c.state.n === 0) zero++;
    if (c.state.n < min) min = c.state.n;
  }
  return { received, zero, min: clients.length ? min : 0, clients: clients.length };
}

// Resolve once `expected` messages arrived in total (or at timeout), with timing.
async function wait({ expected, timeoutMs = 30000 }) {
  if (received < expected) {
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiter = null;
        resolve();
      }, timeoutMs);
      waiter = {
        expected,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
  return {
    received,
    expected,
    timedOut: received < expected,
    firstAt,
    lastAt,
    hist: recordLatency ? encodeHistogram(hist) : null,
    cpuUs: cpuUs(process.cpuUsage(cpu0)),
    ...counts(),
  };
}

// Wait until no message arrived for quietMs (bounded by timeoutMs).
async function quiet({ quietMs = 200, timeoutMs = 10000 }) {
  const end = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < end) {
    if (received === last) break;
    last = received;
    await sleep(quietMs);
  }
  return counts();
}

// Closed loop: every client sends a request, waits for the reply, sends the next one.
async function rpc({ warmupMs, durationMs, graceMs = 5000 }) {
  const h = newHistogram();
  const tStart = nowUs();
  const tMeasure = tStart + warmupMs * 1000;
  const tEnd = tMeasure + durationMs * 1000;
  let count = 0;
  let errors = 0;
  let measuring = false;
  // This process's CPU over the measured window, like the server's.
  let cpuAtMeasure;
  let cpuInWindow;
  const cpuTimers = [
    setTimeout(() => {
      cpuAtMeasure = process.cpuUsage();
    }, warmupMs),
    setTimeout(() => {
      cpuInWindow = process.cpuUsage(cpuAtMeasure);
    }, warmupMs + durationMs),
  ];
  const loops = clients.map(async (c, ci) => {
    let seq = 0;
    while (true) {
      const t = nowUs();
      if (t >= tEnd) return;
      try {
        const reply = await c.request(makePayload(ci * 1e6 + seq++));
        if (!reply || typeof reply.seq !== 'number') throw new Error('bad reply');
        const t1 = nowUs();
        if (t >= tMeasure && t1 <= tEnd) {
          measuring = true;
          count++;
          h.recordValue(Math.max(1, Math.round(t1 - t)));
        }
      } catch {
        errors++;
        await sleep(10);
      }
    }
  });
  const end = (tEnd - nowUs()) / 1000 + graceMs;
  let stuck = false;
  await Promise.race([Promise.all(loops), sleep(end).then(() => (stuck = true))]);
  for (const timer of cpuTimers) clearTimeout(timer);
  // On a busy machine the closing timer can fire after every loop ended (they stop at tEnd, the
  // timer runs late): take the window's CPU now rather than report none.
  if (cpuAtMeasure && !cpuInWindow) cpuInWindow = process.cpuUsage(cpuAtMeasure);
  return {
    count,
    errors,
    stuck,
    measuring,
    durationUs: durationMs * 1000,
    hist: encodeHistogram(h),
    cpuUs: cpuInWindow ? cpuUs(cpuInWindow) : Number.NaN,
  };
}

serve({
  init,
  connect,
  reset,
  counts,
  wait,
  quiet,
  rpc,
  mem: () => process.memoryUsage(),
  closeAll() {
    for (const c of clients.splice(0)) {
      try {
        c.close();
      } catch {}
    }
    return {};
  },
  exit: () => {},
});
