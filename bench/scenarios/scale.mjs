import { connectAll } from '../lib/trial.mjs';
import { sleep } from '../lib/util.mjs';

export default {
  name: 'scale',
  defaultRuns: 1,
  title: (c) => `Scale: idle connections with heartbeats, up to ${c.max.toLocaleString('en')}`,
  describe: (c) =>
    `Clients in ${c.procs} processes open connections (${c.concurrency} at a time per process, source addresses spread over 127.0.0.2-127.0.0.${1 + c.addresses} with localAddress where the client allows it) until the cap or until connections start failing. Heartbeats: raw ws pings every ${c.heartbeatMs / 1000} s (ws.ping / pong), Socket.IO pingInterval ${c.heartbeatMs / 1000} s, Tether \`heartbeat: { intervalMs: ${c.heartbeatMs} }\`. Heartbeat CPU = server CPU over a ${c.windowMs / 1000} s idle window / connections / seconds. Memory as in the memory scenario (gc() before and after).`,
  metrics: [
    { key: 'connections', label: 'connections held', kind: 'count', better: 'higher', chart: true },
    { key: 'rssPerConn', label: 'server RSS / connection', kind: 'bytes', better: 'lower', chart: true },
    { key: 'heapPerConn', label: 'server heap / connection', kind: 'bytes', better: 'lower' },
    {
      key: 'hbCpu',
      label: 'idle + heartbeat CPU, µs / connection / s',
      kind: 'us',
      better: 'lower',
      chart: true,
    },
    { key: 'connectPerSec', label: 'connections opened / s', kind: 'rate', better: 'higher' },
  ],
  config: (o) =>
    o.quick
      ? {
          max: Math.min(o.scaleMax ?? 2000, 2000),
          procs: 2,
          concurrency: 100,
          addresses: 8,
          heartbeatMs: 1000,
          settleMs: 500,
          windowMs: 3000,
          connectDeadlineMs: 20000,
          trialTimeoutMs: 90000,
        }
      : {
          max: o.scaleMax ?? 30000,
          procs: 2,
          concurrency: 150,
          addresses: 8,
          heartbeatMs: 5000,
          settleMs: 2000,
          windowMs: 10000,
          connectDeadlineMs: 120000,
          trialTimeoutMs: 300000,
        },
  fds: (c) => ({ server: c.max, client: Math.ceil(c.max / c.procs) }),

  async run(t, c, ctx) {
    const srv = await t.server({ heartbeatMs: c.heartbeatMs });
    const procs = await t.clientProcs(c.procs);
    let target = Math.min(c.max, ctx.fdCap.server);
    if (procs.some((p) => !p.caps.supportsLocalAddress) && target > ctx.portCap) {
      t.notes.push(`client cannot choose its source address: capped at ${ctx.portCap} (ephemeral ports)`);
      target = ctx.portCap;
    }
    if (target < c.max) t.notes.push(`target ${target} (cap ${c.max}; server fd limit ${ctx.fdLimit.hard})`);
    await sleep(200);
    const base = await srv.call('gcMem');
    const conn = await connectAll(procs, {
      ports: [srv.port],
      n: target,
      concurrency: c.concurrency,
      addresses: c.addresses,
      deadlineMs: c.connectDeadlineMs,
      stopOnFailure: true,
      require: false,
    });
    const reasons = conn.res.map((r) => r.stopReason).filter(Boolean);
    if (reasons.length) t.notes.push(`stopped at ${conn.connected}: ${[...new Set(reasons)].join('; ')}`);
    if (conn.connected === 0)
      throw new Error(`no connection opened: ${JSON.stringify(conn.res.map((r) => r.errors))}`);
    const ready = await srv
      .call('waitReady', { n: conn.connected, timeoutMs: 30000 }, 35000)
      .then((r) => r.ready);
    await sleep(c.settleMs);
    const cw = await srv.call('cpuWindow', { durationMs: c.windowMs }, c.windowMs + 10000);
    const after = await srv.call('gcMem');
    const still = (await srv.call('ready')).ready;
    if (still < ready) t.notes.push(`${ready - still} connections dropped during the idle window`);
    return {
      connections: still,
      rssPerConn: (after.rss - base.rss) / still,
      heapPerConn: (after.heapUsed - base.heapUsed) / still,
      hbCpu: cw.cpuUs / still / (cw.wallUs / 1e6),
      connectPerSec: conn.connected / (conn.ms / 1000),
      _info: {
        target,
        connected: conn.connected,
        failed: conn.res.reduce((a, r) => a + r.failed, 0),
        cpuPctOfCore: +((cw.cpuUs / cw.wallUs) * 100).toFixed(2),
      },
    };
  },
};
