// One trial = one scenario × one stack × one run: the processes it starts, and their cleanup.
import { fileURLToPath } from 'node:url';
import { Child } from './proc.mjs';
import { foreignShare, startSample } from './sysload.mjs';
import { sleep } from './util.mjs';

const SERVER = fileURLToPath(new URL('../server-proc.mjs', import.meta.url));
const CLIENT = fileURLToPath(new URL('../client-proc.mjs', import.meta.url));

// Extra node flags for the children, e.g. BENCH_SERVER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
const extraArgs = (name) => (process.env[name] ?? '').split(/\s+/).filter(Boolean);

export class Trial {
  constructor({ stack, label, longLivedPids = [] }) {
    this.stack = stack;
    this.label = label;
    this.children = [];
    this.notes = [];
    this.sample = startSample(longLivedPids);
  }

  /** CPU share of the whole machine used by other processes during this trial (children must still be alive). */
  foreignLoad() {
    return foreignShare(
      this.sample,
      this.children.filter((c) => !c.exitInfo).map((c) => c.proc.pid),
    );
  }

  async server({ name = 'server', heartbeatMs, redisUrl, nodeId, noRateLimit } = {}) {
    const c = new Child(SERVER, {
      name: `${this.stack}:${name}`,
      execArgv: ['--expose-gc', ...extraArgs('BENCH_SERVER_NODE_OPTIONS')],
    });
    this.children.push(c);
    await c.start();
    const r = await c.call('init', { stack: this.stack, heartbeatMs, redisUrl, nodeId, noRateLimit }, 20000);
    c.port = r.port;
    c.pid = r.pid;
    return c;
  }

  async clientProcs(k) {
    const procs = [];
    for (let i = 0; i < k; i++) {
      const c = new Child(CLIENT, {
        name: `${this.stack}:clients${i + 1}`,
        execArgv: ['--max-old-space-size=4096', ...extraArgs('BENCH_CLIENT_NODE_OPTIONS')],
      });
      this.children.push(c);
      procs.push(c);
    }
    await Promise.all(
      procs.map(async (c) => {
        await c.start();
        c.caps = await c.call('init', { stack: this.stack }, 20000);
      }),
    );
    return procs;
  }

  /** Stop everything this trial started: clients first, then servers; SIGKILL after a grace period. */
  async close() {
    const clients = this.children.filter((c) => c.name.includes(':clients'));
    const servers = this.children.filter((c) => !c.name.includes(':clients'));
    await Promise.all(clients.map((c) => c.stop(3000)));
    await Promise.all(servers.map((c) => c.stop(3000)));
  }

  killAll() {
    for (const c of this.children) c.kill();
  }
}

export function split(n, k) {
  const base = Math.floor(n / k);
  return Array.from({ length: k }, (_, i) => base + (i < n % k ? 1 : 0));
}

export const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** Connect `n` clients spread over `procs` (each proc to its own server port if `ports` has several). */
export async function connectAll(
  procs,
  {
    ports,
    n,
    concurrency = 100,
    addresses = 8,
    timeoutMs = 10000,
    deadlineMs = 60000,
    stopOnFailure = false,
    require = true,
  },
) {
  const per = split(n, procs.length);
  let offset = 0;
  const res = await Promise.all(
    procs.map((p, i) => {
      const args = {
        port: ports[i % ports.length],
        n: per[i],
        concurrency,
        addresses,
        offset,
        timeoutMs,
        deadlineMs,
        stopOnFailure,
      };
      offset += per[i];
      return p.call('connect', args, deadlineMs + timeoutMs + 15000);
    }),
  );
  const connected = sum(res.map((r) => r.connected));
  if (require && connected < n) {
    const errs = {};
    for (const r of res) for (const [k, v] of Object.entries(r.errors)) errs[k] = (errs[k] ?? 0) + v;
    throw new Error(`only ${connected}/${n} clients connected: ${JSON.stringify(errs).slice(0, 300)}`);
  }
  return { per: res.map((r) => r.connected), res, connected, ms: Math.max(...res.map((r) => r.ms)) };
}

export async function waitServerReady(server, n, timeoutMs = 30000) {
  const r = await server.call('waitReady', { n, timeoutMs }, timeoutMs + 5000);
  if (r.ready < n)
    throw new Error(`${server.name}: only ${r.ready}/${n} connections ready (joined) after ${timeoutMs} ms`);
  return r.ready;
}

/**
 * Warm-up: publish single messages until every client has received one (which also proves
 * cross-node subscriptions are in place), then `count` more, wait for quiet, reset counters.
 */
export async function warmup(server, procs, { count, batch = 10, timeoutMs = 15000 }) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await server.call('broadcast', { count: 1, durationMs: 1000, batch: 1 }, 10000);
    await sleep(60);
    const cs = await Promise.all(procs.map((p) => p.call('counts')));
    const zero = sum(cs.map((c) => c.zero));
    if (zero === 0) break;
    if (Date.now() > end) throw new Error(`warm-up: ${zero} clients received nothing within ${timeoutMs} ms`);
    await sleep(100);
  }
  if (count > 0) await server.call('broadcast', { count, durationMs: 5000, batch }, 20000);
  await Promise.all(procs.map((p) => p.call('quiet', { quietMs: 200, timeoutMs: 20000 }, 25000)));
  await Promise.all(procs.map((p) => p.call('reset')));
}
