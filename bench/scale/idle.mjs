#!/usr/bin/env node
// Idle connections: memory and heartbeat CPU of one Tether node.
//
//   node bench/scale/idle.mjs [--connections 10000] [--bus redis|memory|cluster] [--rooms user|none]
//                             [--heartbeat 5000] [--window 30000] [--json FILE]
//
// One Tether node (bench/scale/node-proc.mjs) in its own process, `connections` raw WebSocket
// clients in two other processes (conn-proc.mjs), from source addresses 127.0.0.2-9. With
// `--rooms user` every connection joins its own room `user:<n>` (the notification pattern: one
// room, so one Redis subscription, per connected user). Measures, after gc():
// - node RSS and V8 heap per connection (after minus before connecting);
// - Redis memory per connection (subscriptions, presence entries, room positions);
// - heartbeat CPU: node CPU over `window` ms of idleness minus the same window with no
//   connection, per connection and per heartbeat (a ping sent, a pong read).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  args,
  cpuSeconds,
  fmt,
  mb,
  redisInfo,
  rssBytes,
  sleep,
  startCluster,
  startRedis,
  worker,
} from './lib.mjs';

const opts = args({
  connections: 10_000,
  bus: 'redis',
  rooms: 'user',
  heartbeat: 5000,
  window: 30_000,
  json: '',
});
const here = (f) => fileURLToPath(new URL(f, import.meta.url));

const redis =
  opts.bus === 'redis' ? await startRedis() : opts.bus === 'cluster' ? await startCluster(3) : undefined;
const env = {
  BUS: opts.bus,
  REDIS_URL: redis?.url ?? '',
  CLUSTER_NODES: JSON.stringify(redis?.nodes ?? []),
  HEARTBEAT_MS: String(opts.heartbeat),
};
const node = worker(here('./node-proc.mjs'), [], { env });
const clients = [worker(here('./conn-proc.mjs')), worker(here('./conn-proc.mjs'))];
const redisMemory = () =>
  (redis?.ports ?? []).reduce(
    (sum, port) => sum + Number(redisInfo(port, 'memory').get('used_memory') ?? 0),
    0,
  );

try {
  const { port } = await node.call('info');
  await sleep(1000);
  const before = await node.call('mem');
  const rssBefore = rssBytes(node.pid);
  const redisBefore = redisMemory();

  // Baseline CPU: the node with no connection over the same window.
  const windowS = opts.window / 1000;
  const c0 = cpuSeconds(node.pid);
  await sleep(opts.window);
  const baselineCpu = cpuSeconds(node.pid) - c0;

  const started = Date.now();
  const half = Math.ceil(opts.connections / 2);
  const plan = opts.rooms === 'user' ? { user: true } : {};
  const results = await Promise.all(
    clients.map((c, i) =>
      c.call(
        'connect',
        {
          targets: [{ host: '127.0.0.1', port }],
          n: i === 0 ? half : opts.connections - half,
          start: i === 0 ? 0 : half,
          plan,
          concurrency: 200,
        },
        600_000,
      ),
    ),
  );
  const connected = results.reduce((s, r) => s + r.connected, 0);
  const connectS = (Date.now() - started) / 1000;
  await sleep(3000);
  const after = await node.call('mem');
  const rssAfter = rssBytes(node.pid);
  const redisAfter = redisMemory();

  await Promise.all(clients.map((c) => c.call('reset')));
  const c1 = cpuSeconds(node.pid);
  await sleep(opts.window);
  const idleCpu = cpuSeconds(node.pid) - c1;
  const stats = await Promise.all(clients.map((c) => c.call('stats')));
  const open = stats.reduce((s, x) => s + x.open, 0);
  const frames = stats.reduce((s, x) => s + x.frames, 0);
  const bytes = stats.reduce((s, x) => s + x.bytes, 0);

  const beats = connected * (opts.window / opts.heartbeat);
  const result = {
    machine: 'this machine (2 cores)',
    bus: opts.bus,
    rooms: opts.rooms,
    connections: connected,
    stillOpen: open,
    connectPerSec: Math.round(connected / connectS),
    rssPerConn: Math.round((rssAfter - rssBefore) / connected),
    heapPerConn: Math.round((after.heapUsed - before.heapUsed) / connected),
    externalPerConn: Math.round(
      (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / connected,
    ),
    redisPerConn: redis ? Math.round((redisAfter - redisBefore) / connected) : null,
    heartbeatMs: opts.heartbeat,
    windowMs: opts.window,
    baselineCpuPct: (100 * baselineCpu) / windowS,
    idleCpuPct: (100 * idleCpu) / windowS,
    cpuUsPerHeartbeat: ((idleCpu - baselineCpu) * 1e6) / beats,
    pingFramesSeen: frames,
    pingBytesPerHeartbeat: frames ? bytes / frames : 0,
  };
  console.log(`
idle connections on one Tether node (bus ${opts.bus}, rooms ${opts.rooms}, heartbeat every ${opts.heartbeat} ms)
  connections           ${fmt(connected)} (${fmt(open)} still open after the window), ${fmt(result.connectPerSec)} opened/s
  node RSS              ${mb(rssBefore)} -> ${mb(rssAfter)}: ${fmt(result.rssPerConn)} B / connection
  V8 heap               ${fmt(result.heapPerConn)} B / connection (+ ${fmt(result.externalPerConn)} B external)
  Redis memory          ${redis ? `${fmt(result.redisPerConn)} B / connection` : 'n/a'}
  node CPU, idle        ${fmt(result.baselineCpuPct, 2)} % of a core without connections, ${fmt(result.idleCpuPct, 2)} % with them
  heartbeat CPU         ${fmt(result.cpuUsPerHeartbeat, 2)} µs per connection per heartbeat (ping + pong)
  heartbeat bytes       ${fmt(result.pingBytesPerHeartbeat, 1)} B per ping frame received by a client
`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));
} finally {
  await Promise.all(clients.map((c) => c.stop()));
  await node.stop();
  await redis?.stop();
}
