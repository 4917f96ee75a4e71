import { connectAll, sum, waitServerReady, warmup } from '../lib/trial.mjs';
import { mergeHistograms } from '../lib/util.mjs';

export default {
  name: 'crossnode',
  needsRedis: true,
  title: (c) =>
    `Cross-node: 2 servers on one Redis, ${c.clients.toLocaleString('en')} clients (half on each), broadcast from node A`,
  describe: (c) =>
    `Peers: raw ws + ioredis pub/sub (a channel per room; the publishing node delivers locally), Socket.IO + @socket.io/redis-adapter, Tether + RedisBus. Throughput: node A publishes up to ${c.count} messages (at most ${c.durationMs / 1000} s) as fast as its backpressure allows; rate = deliveries on both nodes / (last delivery − first publish); CPU is both server processes (Redis not counted). Latency: node A publishes ${c.rate} messages/s for ${c.latencyMs / 1000} s; publish-to-receive time per delivery, clients on both nodes.`,
  metrics: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', kind: 'rate', better: 'higher', chart: true },
    { key: 'cpuUsPerDelivery', label: 'server CPU µs / delivery (both nodes)', kind: 'us', better: 'lower' },
    { key: 'p50', label: 'publish→receive p50', kind: 'lat', better: 'lower' },
    { key: 'p99', label: 'publish→receive p99', kind: 'lat', better: 'lower', chart: true },
  ],
  config: (o) =>
    o.quick
      ? {
          clients: 200,
          count: 500,
          durationMs: 1500,
          batch: 10,
          warmup: 30,
          rate: 50,
          latencyMs: 1500,
          drainTimeoutMs: 15000,
          trialTimeoutMs: 75000,
        }
      : {
          clients: 1000,
          count: 3000,
          durationMs: 5000,
          batch: 10,
          warmup: 100,
          rate: 20,
          latencyMs: 5000,
          drainTimeoutMs: 30000,
          trialTimeoutMs: 150000,
        },
  fds: (c) => ({ server: Math.ceil(c.clients / 2), client: Math.ceil(c.clients / 2) }),

  async run(t, c, ctx) {
    const redisUrl = ctx.redis.url;
    const a = await t.server({ name: 'nodeA', redisUrl, nodeId: 'A' });
    const b = await t.server({ name: 'nodeB', redisUrl, nodeId: 'B' });
    const procs = await t.clientProcs(2); // procs[0] -> node A, procs[1] -> node B
    const conn = await connectAll(procs, { ports: [a.port, b.port], n: c.clients });
    await waitServerReady(a, conn.per[0]);
    await waitServerReady(b, conn.per[1]);
    await warmup(a, procs, { count: c.warmup, batch: c.batch });

    // Throughput.
    const [a0, b0] = await Promise.all([a.call('cpu'), b.call('cpu')]);
    const br = await a.call(
      'broadcast',
      { count: c.count, durationMs: c.durationMs, batch: c.batch },
      c.durationMs + 30000,
    );
    const ws = await Promise.all(
      procs.map((p, i) =>
        p.call(
          'wait',
          { expected: br.sent * conn.per[i], timeoutMs: c.drainTimeoutMs },
          c.drainTimeoutMs + 10000,
        ),
      ),
    );
    const [a1, b1] = await Promise.all([a.call('cpu'), b.call('cpu')]);
    const received = sum(ws.map((w) => w.received));
    const expected = br.sent * c.clients;
    if (received < expected)
      t.notes.push(`throughput: ${expected - received} of ${expected} deliveries missing`);
    const seconds = (Math.max(...ws.map((w) => w.lastAt)) - br.t0) / 1e6;

    // Latency at a fixed, moderate rate.
    await Promise.all(procs.map((p) => p.call('quiet', { quietMs: 200, timeoutMs: 20000 }, 25000)));
    await Promise.all(procs.map((p) => p.call('reset', { latency: true })));
    const pr = await a.call('paced', { rate: c.rate, durationMs: c.latencyMs }, c.latencyMs + 30000);
    const lw = await Promise.all(
      procs.map((p, i) =>
        p.call(
          'wait',
          { expected: pr.sent * conn.per[i], timeoutMs: c.drainTimeoutMs },
          c.drainTimeoutMs + 10000,
        ),
      ),
    );
    const lreceived = sum(lw.map((w) => w.received));
    if (lreceived < pr.sent * c.clients)
      t.notes.push(`latency: ${pr.sent * c.clients - lreceived} deliveries missing`);
    const h = mergeHistograms(lw.map((w) => w.hist));
    return {
      deliveriesPerSec: received / seconds,
      cpuUsPerDelivery: (a1.cpuUs - a0.cpuUs + (b1.cpuUs - b0.cpuUs)) / received,
      p50: h.getValueAtPercentile(50),
      p99: h.getValueAtPercentile(99),
      _info: {
        sent: br.sent,
        received,
        seconds: +seconds.toFixed(3),
        onB: ws[1].received,
        latencySamples: h.totalCount,
        cpuA: a1.cpuUs - a0.cpuUs,
        cpuB: b1.cpuUs - b0.cpuUs,
      },
    };
  },
};
