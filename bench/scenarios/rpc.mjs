import { connectAll, sum, waitServerReady } from '../lib/trial.mjs';
import { mergeHistograms } from '../lib/util.mjs';

export default {
  name: 'rpc',
  title: (c) => `Request/ack round trip: ${c.clients} clients, closed loop`,
  describe: (c) =>
    `Each client sends an ~100-byte request, waits for the echo reply (ack), and sends the next; ${c.warmupMs / 1000} s warm-up, then ${c.durationMs / 1000} s measured. Latency is per round trip (hdr-histogram, µs). Server and client CPU per request are taken over the measured window (all clients are in one process). Tether runs with \`rateLimit: false\` here (its default inbound limit is 100 messages/s per connection; the others have none).`,
  metrics: [
    { key: 'reqPerSec', label: 'requests/s', kind: 'rate', better: 'higher', chart: true },
    { key: 'p50', label: 'p50 latency', kind: 'lat', better: 'lower' },
    { key: 'p99', label: 'p99 latency', kind: 'lat', better: 'lower', chart: true },
    { key: 'p999', label: 'p99.9 latency', kind: 'lat', better: 'lower' },
    { key: 'cpuUsPerReq', label: 'server CPU µs / request', kind: 'us', better: 'lower', chart: true },
    { key: 'clientCpuUsPerReq', label: 'client CPU µs / request', kind: 'us', better: 'lower' },
  ],
  config: (o) =>
    o.quick
      ? { clients: 20, procs: 1, warmupMs: 500, durationMs: 1500, trialTimeoutMs: 60000 }
      : { clients: 100, procs: 1, warmupMs: 1500, durationMs: 5000, trialTimeoutMs: 90000 },
  fds: (c) => ({ server: c.clients, client: Math.ceil(c.clients / c.procs) }),

  async run(t, c) {
    const srv = await t.server({ noRateLimit: true });
    const procs = await t.clientProcs(c.procs);
    await connectAll(procs, { ports: [srv.port], n: c.clients });
    await waitServerReady(srv, c.clients);
    const timeout = c.warmupMs + c.durationMs + 20000;
    const [cw, ...rs] = await Promise.all([
      srv.call('cpuWindow', { delayMs: c.warmupMs, durationMs: c.durationMs }, timeout),
      ...procs.map((p) => p.call('rpc', { warmupMs: c.warmupMs, durationMs: c.durationMs }, timeout)),
    ]);
    const h = mergeHistograms(rs.map((r) => r.hist));
    const count = sum(rs.map((r) => r.count));
    const errors = sum(rs.map((r) => r.errors));
    if (errors) t.notes.push(`${errors} failed requests`);
    if (rs.some((r) => r.stuck)) t.notes.push('some requests never completed');
    if (count === 0) throw new Error('no request completed in the measured window');
    return {
      reqPerSec: count / (c.durationMs / 1000),
      p50: h.getValueAtPercentile(50),
      p99: h.getValueAtPercentile(99),
      p999: h.getValueAtPercentile(99.9),
      cpuUsPerReq: cw.served ? cw.cpuUs / cw.served : Number.NaN,
      clientCpuUsPerReq: count ? sum(rs.map((r) => r.cpuUs)) / count : Number.NaN,
      _info: { count, errors, serverServed: cw.served, max: h.maxValue },
    };
  },
};
