#!/usr/bin/env node
// A measured run of the whole stack on this machine: 3 Tether nodes on RedisBus, a Redis
// Cluster of 3 masters (3 shards), raw WebSocket clients spread over the nodes, and the
// workloads of docs/scaling.md published at fixed rates by a backend process.
//
//   node bench/scale/cluster-run.mjs [--connections 3000] [--scale 1] [--window 20000] [--json FILE]
//
// Connection n is on node n % 3 and joins `user:<n>` (notifications), `post:<n % posts>` (comments
// and typing, ~50 members per post) and, for every 10th connection, `order:<n / 10>` (location
// updates, one watcher). Rates at --scale 1 (per second): 200 notifications, 20 comments,
// 40 typing (volatile), 100 location updates. Measured over `window` ms: deliveries and bytes
// per second by workload, publish-to-client latency, CPU and RSS of every node, CPU of every
// shard. Heartbeats at Tether's default (25 s).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { args, cpuSeconds, fmt, mb, rssBytes, sleep, startCluster, worker } from './lib.mjs';

const opts = args({ connections: 3000, scale: 1, window: 20_000, posts: 0, json: '' });
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const posts = opts.posts || Math.max(1, Math.round(opts.connections / 50));
const orders = Math.ceil(opts.connections / 10);
const rates = {
  notification: 200 * opts.scale,
  comment: 20 * opts.scale,
  typing: 40 * opts.scale,
  location: 100 * opts.scale,
};

const cluster = await startCluster(3);
const env = { BUS: 'cluster', CLUSTER_NODES: JSON.stringify(cluster.nodes) };
const nodes = [0, 1, 2].map(() => worker(here('./node-proc.mjs'), [], { env }));
const clients = [worker(here('./conn-proc.mjs')), worker(here('./conn-proc.mjs'))];
const publisher = worker(here('./bus-proc.mjs'), [], { env });

try {
  const targets = [];
  for (const n of nodes) targets.push({ host: '127.0.0.1', port: (await n.call('info')).port });
  const half = Math.ceil(opts.connections / 2);
  const plan = { user: true, posts, orderEvery: 10 };
  const connected = await Promise.all(
    clients.map((c, i) =>
      c.call(
        'connect',
        {
          targets,
          n: i === 0 ? half : opts.connections - half,
          start: i === 0 ? 0 : half,
          plan,
          concurrency: 100,
        },
        600_000,
      ),
    ),
  );
  const open = connected.reduce((s, r) => s + r.joined, 0);
  const rss0 = nodes.map((n) => rssBytes(n.pid));
  // Warm-up: rooms created, scripts loaded, caches hot.
  await publisher.call(
    'workload',
    { rates, users: opts.connections, posts, orders, durationMs: 3000 },
    60_000,
  );
  await sleep(1000);
  await Promise.all(clients.map((c) => c.call('reset')));

  const nodeCpu0 = nodes.map((n) => cpuSeconds(n.pid));
  const shardCpu0 = cluster.pids.map(cpuSeconds);
  const pubCpu0 = cpuSeconds(publisher.pid);
  const load = await publisher.call(
    'workload',
    { rates, users: opts.connections, posts, orders, durationMs: opts.window },
    opts.window + 60_000,
  );
  const seconds = load.seconds;
  const nodeCpu = nodes.map((n, i) => cpuSeconds(n.pid) - nodeCpu0[i]);
  const shardCpu = cluster.pids.map((pid, i) => cpuSeconds(pid) - shardCpu0[i]);
  const pubCpu = cpuSeconds(publisher.pid) - pubCpu0;
  await sleep(1000);
  const stats = await Promise.all(clients.map((c) => c.call('stats')));
  const rss = nodes.map((n) => rssBytes(n.pid));
  const metrics = await Promise.all(nodes.map((n) => n.call('metrics')));

  const byKind = {};
  for (const s of stats) for (const [k, v] of Object.entries(s.byKind)) byKind[k] = (byKind[k] ?? 0) + v;
  const msgs = stats.reduce((s, x) => s + x.msgs, 0);
  const bytes = stats.reduce((s, x) => s + x.bytes, 0);
  const published = Object.values(load.sent).reduce((a, b) => a + b, 0);
  const durable = published - load.sent.typing;
  const result = {
    connections: opts.connections,
    joined: open,
    posts,
    orders,
    scale: opts.scale,
    rates,
    seconds,
    published,
    publishErrors: load.errors,
    publishesPerSec: published / seconds,
    durablePerSec: durable / seconds,
    deliveriesPerSec: msgs / seconds,
    deliveriesByKindPerSec: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, v / seconds])),
    wireBytesPerSec: bytes / seconds,
    latencyP50Ms: Math.max(...stats.map((s) => s.p50)),
    latencyP99Ms: Math.max(...stats.map((s) => s.p99)),
    nodeCpuPct: nodeCpu.map((c) => (100 * c) / seconds),
    nodeRss: rss,
    nodeRssBeforeLoad: rss0,
    nodeConnections: metrics.map((m) => m.connections.total),
    shardCpuPct: shardCpu.map((c) => (100 * c) / seconds),
    publisherCpuPct: (100 * pubCpu) / seconds,
    nodeCpuUsPerDelivery: (nodeCpu.reduce((a, b) => a + b, 0) * 1e6) / msgs,
    shardCpuUsPerPublish: (shardCpu.reduce((a, b) => a + b, 0) * 1e6) / published,
  };
  console.log(`
3 Tether nodes + 3-shard Redis Cluster, ${fmt(open)} of ${fmt(opts.connections)} connections joined, scale ${opts.scale}, ${fmt(seconds, 1)} s
  publishes             ${fmt(result.publishesPerSec)} /s (${Object.entries(load.sent)
    .map(([k, v]) => `${k} ${fmt(v / seconds)}`)
    .join(', ')}), ${load.errors} errors
  deliveries            ${fmt(result.deliveriesPerSec)} /s (${Object.entries(result.deliveriesByKindPerSec)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ')})
  wire, to clients      ${fmt(result.wireBytesPerSec / 1024, 1)} KiB/s (WebSocket frames, payload + header)
  latency               publish -> client p50 ${result.latencyP50Ms} ms, p99 ${result.latencyP99Ms} ms
  node CPU              ${result.nodeCpuPct.map((p) => `${fmt(p, 1)} %`).join(', ')} of a core = ${fmt(result.nodeCpuUsPerDelivery, 1)} µs per delivery (all in)
  node RSS              ${result.nodeRss.map(mb).join(', ')} (${result.nodeConnections.join(' / ')} connections)
  shard CPU             ${result.shardCpuPct.map((p) => `${fmt(p, 1)} %`).join(', ')} of a core = ${fmt(result.shardCpuUsPerPublish, 1)} µs per publish
  publisher CPU         ${fmt(result.publisherCpuPct, 1)} % of a core`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));
} finally {
  await Promise.all([...clients, publisher, ...nodes].map((w) => w.stop()));
  await cluster.stop();
}
