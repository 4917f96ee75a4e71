import { connectAll, sum, waitServerReady, warmup } from '../lib/trial.mjs';
import { PAYLOAD_BYTES } from '../lib/util.mjs';

export default {
  name: 'fanout',
  title: (c) => `Fan-out: 1 room × ${c.clients.toLocaleString('en')} clients, ${PAYLOAD_BYTES}-byte messages`,
  describe: (c) =>
    `The server broadcasts up to ${c.count} messages (for at most ${c.durationMs / 1000} s), ${c.batch} per event-loop turn, pausing whenever its backpressure signal says so; clients in ${c.procs} processes count deliveries. Rate = deliveries / (last delivery − first publish). CPU = server process user+system CPU over the same span / deliveries; client CPU = the client processes' CPU from just before the first publish until their last delivery / deliveries.`,
  metrics: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', kind: 'rate', better: 'higher', chart: true },
    { key: 'cpuUsPerDelivery', label: 'server CPU µs / delivery', kind: 'us', better: 'lower', chart: true },
    // The clients share the machine's two cores with the server: their cost per message is part
    // of what the delivery rate shows.
    { key: 'clientCpuUsPerDelivery', label: 'client CPU µs / delivery', kind: 'us', better: 'lower' },
  ],
  config: (o) =>
    o.quick
      ? {
          clients: 200,
          procs: 2,
          count: 1000,
          durationMs: 1500,
          batch: 10,
          warmup: 50,
          drainTimeoutMs: 15000,
          trialTimeoutMs: 60000,
        }
      : {
          clients: 1000,
          procs: 2,
          count: 4000,
          durationMs: 5000,
          batch: 10,
          warmup: 200,
          drainTimeoutMs: 30000,
          trialTimeoutMs: 120000,
        },
  fds: (c) => ({ server: c.clients, client: Math.ceil(c.clients / c.procs) }),

  async run(t, c) {
    const srv = await t.server();
    const procs = await t.clientProcs(c.procs);
    const conn = await connectAll(procs, { ports: [srv.port], n: c.clients });
    await waitServerReady(srv, c.clients);
    await warmup(srv, procs, { count: c.warmup, batch: c.batch });

    const c0 = await srv.call('cpu');
    const b = await srv.call(
      'broadcast',
      { count: c.count, durationMs: c.durationMs, batch: c.batch },
      c.durationMs + 30000,
    );
    const ws = await Promise.all(
      procs.map((p, i) =>
        p.call(
          'wait',
          { expected: b.sent * conn.per[i], timeoutMs: c.drainTimeoutMs },
          c.drainTimeoutMs + 10000,
        ),
      ),
    );
    const c1 = await srv.call('cpu');
    const received = sum(ws.map((w) => w.received));
    const expected = b.sent * c.clients;
    const lastAt = Math.max(...ws.map((w) => w.lastAt));
    const seconds = (lastAt - b.t0) / 1e6;
    if (received < expected)
      t.notes.push(`${expected - received} of ${expected} deliveries missing after ${c.drainTimeoutMs} ms`);
    return {
      deliveriesPerSec: received / seconds,
      cpuUsPerDelivery: (c1.cpuUs - c0.cpuUs) / received,
      clientCpuUsPerDelivery: sum(ws.map((w) => w.cpuUs)) / received,
      _info: {
        sent: b.sent,
        received,
        seconds: +seconds.toFixed(3),
        sendSeconds: +((b.t1 - b.t0) / 1e6).toFixed(3),
        bpWaits: b.waits,
        clientCpuUs: ws.map((w) => Math.round(w.cpuUs)),
        serverCpuUs: Math.round(c1.cpuUs - c0.cpuUs),
        connectMs: conn.ms,
      },
    };
  },
};
