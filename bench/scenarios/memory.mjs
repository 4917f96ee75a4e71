import { connectAll, waitServerReady } from '../lib/trial.mjs';
import { sleep } from '../lib/util.mjs';

export default {
  name: 'memory',
  title: (c) => `Memory: ${c.conns.toLocaleString('en')} idle connections`,
  describe: (c) =>
    `Server run with --expose-gc and each stack's default settings. Baseline: after start and ${c.warmupConns} warm-up connections that are closed again, then gc(). After ${c.conns} clients connect (and join a room) and ${c.settleMs / 1000} s of settling, gc() again; the difference in RSS and V8 heapUsed is divided by the number of connections.`,
  metrics: [
    { key: 'rssPerConn', label: 'server RSS / connection', kind: 'bytes', better: 'lower', chart: true },
    { key: 'heapPerConn', label: 'server heap / connection', kind: 'bytes', better: 'lower', chart: true },
    { key: 'connectPerSec', label: 'connections opened / s', kind: 'rate', better: 'higher' },
  ],
  config: (o) =>
    o.quick
      ? {
          conns: 1000,
          procs: 2,
          warmupConns: 20,
          settleMs: 500,
          connectDeadlineMs: 30000,
          trialTimeoutMs: 60000,
        }
      : {
          conns: 10000,
          procs: 2,
          warmupConns: 50,
          settleMs: 1500,
          connectDeadlineMs: 90000,
          trialTimeoutMs: 150000,
        },
  fds: (c) => ({ server: c.conns, client: Math.ceil(c.conns / c.procs) }),

  async run(t, c) {
    const srv = await t.server();
    const procs = await t.clientProcs(c.procs);
    await connectAll(procs.slice(0, 1), { ports: [srv.port], n: c.warmupConns });
    await waitServerReady(srv, c.warmupConns);
    await procs[0].call('closeAll');
    const z = await srv.call('waitReady', { n: 0, exact: true, timeoutMs: 10000 }, 15000);
    if (z.ready !== 0) throw new Error(`warm-up connections did not close (${z.ready} left)`);
    await sleep(200);
    const base = await srv.call('gcMem');
    const conn = await connectAll(procs, {
      ports: [srv.port],
      n: c.conns,
      concurrency: 100,
      deadlineMs: c.connectDeadlineMs,
    });
    await waitServerReady(srv, c.conns);
    await sleep(c.settleMs);
    const after = await srv.call('gcMem');
    return {
      rssPerConn: (after.rss - base.rss) / c.conns,
      heapPerConn: (after.heapUsed - base.heapUsed) / c.conns,
      connectPerSec: c.conns / (conn.ms / 1000),
      _info: {
        baseRss: base.rss,
        afterRss: after.rss,
        baseHeap: base.heapUsed,
        afterHeap: after.heapUsed,
        external: after.external - base.external,
      },
    };
  },
};
