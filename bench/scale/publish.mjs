#!/usr/bin/env node
// Sustained publish throughput through RedisBus.publish, on one Redis (one shard) and on a
// Redis Cluster of 3 masters (3 shards).
//
//   node bench/scale/publish.mjs [--target redis|cluster|both] [--publishers 2] [--concurrency 64]
//                                [--rooms 1000] [--duration 10000] [--bytes 100] [--json FILE]
//
// `publishers` processes (bus-proc.mjs) each run `concurrency` closed loops of publish() to
// random rooms (history 100 messages / 2 min, as a Tether server publishes), while one
// subscriber process has a node subscribed to every room. Measured over `duration` ms after a
// 2 s warm-up: publishes/s, publish latency, and the CPU every redis-server used, which gives
// the CPU one publish costs a shard (the figure capacity planning extrapolates from: this
// machine has 2 cores, so the Node processes and Redis compete for them, and the rate below
// is a floor, not a shard's ceiling).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { args, cpuSeconds, fmt, machineCpu, sleep, startCluster, startRedis, worker } from './lib.mjs';

const opts = args({
  target: 'both',
  publishers: 2,
  concurrency: 64,
  rooms: 1000,
  duration: 10_000,
  bytes: 100,
  json: '',
});
const here = (f) => fileURLToPath(new URL(f, import.meta.url));

async function measure(target) {
  const redis = target === 'cluster' ? await startCluster(3) : await startRedis();
  const env = { BUS: target, REDIS_URL: redis.url ?? '', CLUSTER_NODES: JSON.stringify(redis.nodes ?? []) };
  const sub = worker(here('./bus-proc.mjs'), [], { env });
  const pubs = Array.from({ length: opts.publishers }, () => worker(here('./bus-proc.mjs'), [], { env }));
  try {
    await sub.call('subscribe', { rooms: opts.rooms });
    // Warm-up: scripts loaded, connections open, rooms created.
    await Promise.all(
      pubs.map((p) => p.call('publish', { rooms: opts.rooms, concurrency: 8, durationMs: 2000 })),
    );
    const before = await sub.call('received');
    const cpu0 = redis.pids.map(cpuSeconds);
    const pubCpu0 = pubs.map((p) => cpuSeconds(p.pid));
    const m0 = machineCpu();
    const t0 = Date.now();
    const results = await Promise.all(
      pubs.map((p) =>
        p.call(
          'publish',
          { rooms: opts.rooms, concurrency: opts.concurrency, durationMs: opts.duration, bytes: opts.bytes },
          opts.duration + 60_000,
        ),
      ),
    );
    const seconds = (Date.now() - t0) / 1000;
    const cpu = redis.pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]);
    const pubCpu = pubs.reduce((sum, p, i) => sum + cpuSeconds(p.pid) - pubCpu0[i], 0);
    const m1 = machineCpu();
    await sleep(500);
    const after = await sub.call('received');
    const published = results.reduce((s, r) => s + r.count, 0);
    const redisCpu = cpu.reduce((a, b) => a + b, 0);
    return {
      target,
      shards: redis.pids.length,
      publishers: opts.publishers,
      concurrency: opts.concurrency,
      rooms: opts.rooms,
      bytes: opts.bytes,
      seconds,
      published,
      errors: results.reduce((s, r) => s + r.errors, 0),
      publishesPerSec: published / seconds,
      delivered: after.count - before.count,
      publishP50Ms: Math.max(...results.map((r) => r.p50)),
      publishP99Ms: Math.max(...results.map((r) => r.p99)),
      deliveryP50Ms: after.p50,
      deliveryP99Ms: after.p99,
      redisCpuPctPerShard: cpu.map((c) => (100 * c) / seconds),
      redisCpuUsPerPublish: (redisCpu * 1e6) / published,
      publisherCpuUsPerPublish: (pubCpu * 1e6) / published,
      machineBusyPct: 100 * (1 - (m1.idle - m0.idle) / (m1.total - m0.total)),
    };
  } finally {
    await Promise.all([sub, ...pubs].map((w) => w.stop()));
    await redis.stop();
  }
}

const targets = opts.target === 'both' ? ['redis', 'cluster'] : [opts.target];
const results = [];
for (const target of targets) {
  const r = await measure(target);
  results.push(r);
  console.log(`
RedisBus.publish on ${r.target === 'cluster' ? 'a 3-master cluster (3 shards)' : 'one Redis (1 shard)'}: ${r.publishers} processes x ${r.concurrency} loops, ${fmt(r.rooms)} rooms, ~${r.bytes}-byte data, history on
  publishes             ${fmt(r.published)} in ${fmt(r.seconds, 1)} s = ${fmt(r.publishesPerSec)} /s (${r.errors} errors)
  publish latency       p50 ${fmt(r.publishP50Ms, 2)} ms, p99 ${fmt(r.publishP99Ms, 2)} ms
  delivered to 1 node   ${fmt(r.delivered)} (pub/sub p50 ${r.deliveryP50Ms} ms, p99 ${r.deliveryP99Ms} ms, publish to receive)
  Redis CPU             ${r.redisCpuPctPerShard.map((p) => `${fmt(p)} %`).join(' + ')} of a core = ${fmt(r.redisCpuUsPerPublish, 1)} µs per publish
  publisher CPU         ${fmt(r.publisherCpuUsPerPublish, 1)} µs per publish (Node, ioredis${r.target === 'cluster' ? ' Cluster' : ''})
  machine busy          ${fmt(r.machineBusyPct)} % of both cores`);
}
if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
