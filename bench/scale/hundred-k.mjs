#!/usr/bin/env node
// 100 000 idle connections with heartbeats over several Tether nodes, then one node SIGKILLed.
//
//   node bench/scale/hundred-k.mjs [--connections 100000] [--nodes 0] [--clients 0] [--addresses 8]
//                                  [--heartbeat 25000] [--window 50000] [--watch-every 50]
//                                  [--rate 20] [--concurrency 100] [--ramp-seconds 600]
//                                  [--server-node-options FLAGS] [--no-user-rooms]
//                                  [--json FILE] [--max-minutes 20] [--storm-seconds 300]
//
// A redis-server of its own (free port, no persistence), one cluster primary with `nodes` Tether
// workers sharing one port on 127.0.0.1-127.0.0.<addresses> (cluster-node.mjs; the primary
// balances round-robin and sends reconnecting clients to the live workers), and `clients`
// processes of real TetherClients (storm-clients.mjs), each process and each node under the
// open-file limit. Every client joins `user:<n>` (not with --no-user-rooms, which isolates the
// cost of those rooms); every `watch-every`-th also joins `stream`.
// Phases, each bounded in time:
// 1. baseline: server RSS and CPU with no connection;
// 2. ramp-up: every client connects and joins; connections opened (and joined) per second;
// 3. idle: server RSS (after gc) and CPU over `window` ms of heartbeats only;
// 4. kill: a backend streams `tick` events (seq 1, 2, ...) to `stream` at `rate`/s through
//    TetherEmitter; node 0 is SIGKILLed; its clients reconnect through the primary to the other
//    nodes; measured: time until all are back, reconnects per second the survivors saw, and per
//    watcher of the killed node, stream messages missing, duplicated, or reported unrecoverable.
// `nodes` and `clients` default to what the open-file limit needs. Everything started is killed
// at the end, on error, on a time-out and on Ctrl-C.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  args,
  cpuSeconds,
  fmt,
  machineCpu,
  mb,
  memoryOf,
  redisInfo,
  rssBytes,
  sleep,
  startRedis,
  worker,
} from './lib.mjs';

const opts = args({
  connections: 100_000,
  nodes: 0,
  clients: 0,
  addresses: 8,
  heartbeat: 25_000,
  window: 50_000,
  baseline: 10_000,
  'watch-every': 50,
  rate: 20,
  concurrency: 100,
  'ramp-seconds': 600,
  'server-node-options': '',
  'no-user-rooms': false,
  json: '',
  'max-minutes': 20,
  // Longest wait for the killed node's clients to be back.
  'storm-seconds': 300,
});
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const STREAM = 'stream';
const FD_MARGIN = 1500;

function openFileLimit() {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = line
    .split(/\s{2,}/)
    .slice(1, 3)
    .map(Number);
  return { soft, hard };
}

const fd = openFileLimit();
const perProcess = fd.hard - FD_MARGIN;
const nodes = opts.nodes || Math.max(2, Math.ceil(opts.connections / perProcess) + 1);
const clientProcs = opts.clients || Math.max(1, Math.ceil(opts.connections / 12_500));
const ports = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
const portsPerAddress = ports[1] - ports[0] + 1;
const problems = [];
if (Math.ceil(opts.connections / (nodes - 1)) > perProcess)
  problems.push(
    `${nodes} nodes: after one is killed each holds ${Math.ceil(opts.connections / (nodes - 1))} > ${perProcess} (open-file limit ${fd.hard} - ${FD_MARGIN}); use more --nodes`,
  );
if (Math.ceil(opts.connections / clientProcs) > perProcess)
  problems.push(`${clientProcs} client processes: more than ${perProcess} sockets each; use more --clients`);
if (Math.ceil(opts.connections / opts.addresses) > portsPerAddress * 0.9)
  problems.push(
    `${opts.addresses} addresses x ${portsPerAddress} ephemeral ports is too few; use more --addresses`,
  );
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(2);
}

const started = Date.now();
const load0 = loadavg();
log(
  `${fmt(opts.connections)} connections, ${nodes} nodes, ${clientProcs} client processes, ${opts.addresses} addresses; open files ${fd.soft}/${fd.hard}; ephemeral ports ${ports.join('-')}`,
);

let redis;
let primary;
let publisher;
const clients = [];
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    await Promise.allSettled(clients.map((c) => c.call('close', {}, 20_000)));
    await Promise.allSettled([...clients, publisher, primary].filter(Boolean).map((w) => w.stop()));
    await redis?.stop();
  })();
  return cleaning;
}
const abort = async (why, code) => {
  console.error(why);
  await Promise.race([cleanup(), sleep(15_000)]);
  process.exit(code);
};
process.once('SIGINT', () => abort('interrupted: cleaning up', 130));
process.once('SIGTERM', () => abort('terminated: cleaning up', 143));
setTimeout(
  () => abort(`time limit of ${opts['max-minutes']} min reached`, 1),
  opts['max-minutes'] * 60_000,
).unref();

const all = (cmd, payload, timeoutMs) => Promise.all(clients.map((c) => c.call(cmd, payload, timeoutMs)));
const sumOf = (list, key) => list.reduce((s, x) => s + x[key], 0);

/** Server processes (primary + live workers): pids from the primary. */
async function serverPids() {
  const info = await primary.call('info');
  return [info.primaryPid, ...info.workers.filter((w) => w.alive).map((w) => w.pid)];
}
const serverRss = (pids) => pids.reduce((s, pid) => s + rssBytes(pid), 0);
/**
 * Physical memory of the server processes: each one's anonymous memory, plus mapped files once
 * (the node binary's code is the same pages in every process; a sum of RSS counts it per process).
 */
function serverFootprint(pids) {
  const m = pids.map(memoryOf);
  return m.reduce((s, x) => s + x.anon, 0) + Math.max(...m.map((x) => x.file));
}
const serverCpu = (pids) => pids.reduce((s, pid) => s + cpuSeconds(pid), 0);

/** CPU of every process of this run, and of the whole machine, over `ms`. */
async function cpuWindow(ms, pids, otherPids) {
  const m0 = machineCpu();
  const s0 = serverCpu(pids);
  const o0 = otherPids.reduce((s, pid) => s + cpuSeconds(pid), 0);
  const t0 = Date.now();
  await sleep(ms);
  const seconds = (Date.now() - t0) / 1000;
  const m1 = machineCpu();
  const server = serverCpu(pids) - s0;
  const ours = server + otherPids.reduce((s, pid) => s + cpuSeconds(pid), 0) - o0;
  // /proc/stat counts in USER_HZ per core; its share of all cores times 2 cores = cores busy.
  const busyShare = 1 - (m1.idle - m0.idle) / (m1.total - m0.total);
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm).length;
  return {
    seconds,
    server,
    ours,
    machineBusyCores: busyShare * cores,
    otherCores: busyShare * cores - ours / seconds,
  };
}

try {
  redis = await startRedis();
  primary = worker(here('./cluster-node.mjs'), [], {
    env: {
      WORKERS: String(nodes),
      ADDRESSES: String(opts.addresses),
      HEARTBEAT_MS: String(opts.heartbeat),
      REDIS_URL: redis.url,
      STREAM_ROOM: STREAM,
      SERVER_NODE_OPTIONS: opts['server-node-options'],
    },
  });
  const info = await primary.call('info', {}, 60_000);
  for (let i = 0; i < clientProcs; i++) clients.push(worker(here('./storm-clients.mjs')));
  publisher = worker(here('./bus-proc.mjs'), [], { env: { BUS: 'redis', REDIS_URL: redis.url } });
  const otherPids = () => [...redis.pids, publisher.pid, ...clients.map((c) => c.pid)];
  log(
    `redis ${redis.port}; Tether port ${info.port}; primary ${info.primaryPid}, workers ${info.workers.map((w) => w.pid).join(' ')}`,
  );

  // 1. Baseline.
  await sleep(2000);
  let pids = await serverPids();
  await primary.call('ask', { cmd: 'mem' });
  const rssBase = serverRss(pids);
  const footBase = serverFootprint(pids);
  const workersAtRest = pids.slice(1).map(memoryOf);
  const redisBase = Number(redisInfo(redis.port, 'memory').get('used_memory') ?? 0);
  const base = await cpuWindow(opts.baseline, pids, otherPids());
  log(`baseline: server RSS ${mb(rssBase)}, CPU ${fmt((100 * base.server) / base.seconds, 2)} % of a core`);

  // 2. Ramp-up.
  const per = Math.ceil(opts.connections / clientProcs);
  const t0 = Date.now();
  const rampCpu0 = serverCpu(pids);
  const progress = setInterval(async () => {
    const c = await all('counts', {}, 10_000).catch(() => []);
    log(`  ramp: ${fmt(sumOf(c, 'open'))} open`);
  }, 10_000);
  const ramp = await Promise.all(
    clients.map((c, i) =>
      c.call(
        'connect',
        {
          port: info.port,
          n: Math.max(0, Math.min(per, opts.connections - i * per)),
          start: i * per,
          addresses: opts.addresses,
          watchEvery: opts['watch-every'],
          userRooms: !opts['no-user-rooms'],
          streamRoom: STREAM,
          concurrency: opts.concurrency,
          deadlineMs: opts['ramp-seconds'] * 1000,
        },
        opts['ramp-seconds'] * 1000 + 120_000,
      ),
    ),
  ).finally(() => clearInterval(progress));
  const rampSeconds = (Date.now() - t0) / 1000;
  const connected = sumOf(ramp, 'ok');
  const rampCpu = serverCpu(pids) - rampCpu0;
  const watchers = sumOf(ramp, 'watchers');
  const rampStats = await primary.call('ask', { cmd: 'stats', payload: { since: t0 } });
  const rampPeak = peakPerSecond(rampStats, 1000);
  log(
    `ramp-up: ${fmt(connected)} open and joined (${fmt(sumOf(ramp, 'failed'))} failed) in ${fmt(rampSeconds, 1)} s = ${fmt(connected / rampSeconds)}/s (peak ${fmt(rampPeak)}/s over 1 s)`,
  );

  // 3. Idle: memory after gc, then CPU over the window.
  await sleep(3000);
  const mem = await primary.call('ask', { cmd: 'mem' }, 120_000);
  pids = await serverPids();
  const rssIdle = serverRss(pids);
  const footIdle = serverFootprint(pids);
  const perNode = mem.map((m) => ({
    pid: m.pid,
    connections: m.connections,
    ...memoryOf(m.pid),
    heapUsed: m.heapUsed,
  }));
  const redisMem = Number(redisInfo(redis.port, 'memory').get('used_memory') ?? 0);
  const clientRss = clients.reduce((s, c) => s + rssBytes(c.pid), 0);
  const redisCpu0 = cpuSeconds(redis.pids[0]);
  const idle = await cpuWindow(opts.window, pids, otherPids());
  const redisIdleCpu = cpuSeconds(redis.pids[0]) - redisCpu0;
  const heldAfterIdle = sumOf(await all('counts'), 'open');
  const idleServerCpu = idle.server - (base.server / base.seconds) * idle.seconds;
  const heartbeatUs = (idleServerCpu * 1e6) / connected / idle.seconds;
  log(
    `idle ${fmt(idle.seconds, 1)} s: server RSS ${mb(rssIdle)} (${fmt((rssIdle - rssBase) / connected)} B/connection over baseline), CPU ${fmt((100 * idle.server) / idle.seconds, 1)} % of a core = ${fmt(heartbeatUs, 2)} µs per connection per second (${fmt(heldAfterIdle)} still open)`,
  );

  // 4. Kill one node while a room stream runs.
  await publisher.call('streamStart', {
    room: STREAM,
    rate: opts.rate,
    history: { size: 5000, ttlMs: 600_000 },
  });
  await sleep(3000);
  await all('markDrops');
  const victim = perNode.find((n) => n.pid === info.workers[0].pid);
  const survivorPids = (await serverPids()).filter((pid) => pid !== info.workers[0].pid);
  const stormCpu0 = serverCpu(survivorPids);
  const killed = await primary.call('kill', { index: 0 });
  log(
    `killed node 0 (pid ${killed.pid}, ${fmt(victim?.connections ?? 0)} connections); stream at ${opts.rate}/s`,
  );
  const stormDeadline = Date.now() + opts['storm-seconds'] * 1000;
  let counts;
  for (;;) {
    counts = await all('counts', {}, 10_000);
    const dropped = sumOf(counts, 'dropped');
    const back = sumOf(counts, 'back');
    if (Date.now() - killed.at > 1000 && dropped > 0 && back === dropped) break;
    if (Date.now() > stormDeadline) break;
    await sleep(100);
  }
  // Net of what the survivors spend idle (heartbeats, renewals) over the same time.
  const stormSeconds = (Date.now() - killed.at) / 1000;
  const stormCpu =
    serverCpu(survivorPids) - stormCpu0 - ((idle.server / idle.seconds) * stormSeconds * (nodes - 1)) / nodes;
  const backTimes = await all('backTimes');
  const dropped = sumOf(counts, 'dropped');
  const back = sumOf(counts, 'back');
  const lastBack = Math.max(...backTimes.map((b) => b.last));
  const firstBack = Math.min(...backTimes.filter((b) => b.count).map((b) => b.first));
  const storm = await primary.call('ask', { cmd: 'stats', payload: { since: killed.at } });
  const stormPeak100 = peakPerSecond(storm, 100);
  const stormPeak1s = peakPerSecond(storm, 1000);
  log(
    `storm: ${fmt(back)}/${fmt(dropped)} back, the last ${fmt(lastBack - killed.at)} ms after the kill; peak ${fmt(stormPeak1s)}/s over 1 s, ${fmt(stormPeak100)}/s over 100 ms`,
  );

  // The stream runs 5 s more, then every watcher must reach its last message.
  await sleep(5000);
  const streamed = await publisher.call('streamStop', {}, 30_000);
  const tailDeadline = Date.now() + 30_000;
  while (Date.now() < tailDeadline) {
    const lows = await all('lowestSeq');
    if (lows.every((l) => l.low === null || l.low >= streamed.lastSeq)) break;
    await sleep(200);
  }
  const verified = await all('verify', { lastSeq: streamed.lastSeq });
  const sumCheck = (key) =>
    Object.fromEntries(
      Object.keys(verified[0][key]).map((k) => [k, verified.reduce((s, v) => s + v[key][k], 0)]),
    );
  const victims = sumCheck('victims');
  const everyone = sumCheck('all');
  const after = await primary.call('ask', { cmd: 'stats', payload: { since: Date.now() } });
  pids = await serverPids();
  const rssAfter = serverRss(pids);
  log(
    `stream: ${streamed.lastSeq} messages (${streamed.errors} publish errors); watchers of the killed node ${victims.watchers}: ${victims.complete} complete, ${victims.missing} missing, ${victims.duplicates} duplicates, ${victims.recoveryFailed} recovery-failed; all ${everyone.watchers} watchers: ${everyone.missing} missing, ${everyone.duplicates} duplicates`,
  );

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    openFiles: fd,
    ephemeralPorts: ports,
    loadAverageBefore: load0,
    loadAverageAfter: loadavg(),
    connections: opts.connections,
    nodes,
    clientProcesses: clientProcs,
    addresses: opts.addresses,
    heartbeatMs: opts.heartbeat,
    serverNodeOptions: opts['server-node-options'],
    connected,
    watchers,
    failed: sumOf(ramp, 'failed'),
    rampSeconds,
    openedPerSec: connected / rampSeconds,
    rampPeakPerSec: rampPeak,
    rampServerCpuUsPerConnection: (rampCpu * 1e6) / connected,
    serverRssBaseline: rssBase,
    serverRss: rssIdle,
    serverRssPerConnection: rssIdle / connected,
    serverRssPerConnectionOverBaseline: (rssIdle - rssBase) / connected,
    serverFootprintBaseline: footBase,
    serverFootprint: footIdle,
    serverFootprintPerConnection: footIdle / connected,
    primaryRss: rssBytes(pids[0]),
    perNode,
    workersAtRest,
    // Each node's own (anonymous) memory per connection, over what the nodes held at rest.
    nodeAnonPerConnection:
      (perNode.reduce((sum, n) => sum + n.anon, 0) - workersAtRest.reduce((sum, n) => sum + n.anon, 0)) /
      connected,
    redisUsedMemoryBaseline: redisBase,
    redisUsedMemory: redisMem,
    redisPerConnection: (redisMem - redisBase) / connected,
    clientRss,
    idleSeconds: idle.seconds,
    idleServerCpuPct: (100 * idle.server) / idle.seconds,
    baselineServerCpuPct: (100 * base.server) / base.seconds,
    heartbeatCpuUsPerConnSec: heartbeatUs,
    redisIdleCpuPct: (100 * redisIdleCpu) / idle.seconds,
    redisIdleCpuUsPerConnSec: (redisIdleCpu * 1e6) / connected / idle.seconds,
    userRooms: !opts['no-user-rooms'],
    heartbeatCpuUsPerConnSecAllIn: (idle.server * 1e6) / connected / idle.seconds,
    machineBusyCoresIdle: idle.machineBusyCores,
    otherLoadCoresIdle: idle.otherCores,
    heldAfterIdle,
    kill: {
      pid: killed.pid,
      victimConnections: victim?.connections ?? null,
      dropped,
      back,
      allBackMs: lastBack - killed.at,
      firstBackMs: firstBack - killed.at,
      peakPerSec1s: stormPeak1s,
      peakPerSec100ms: stormPeak100,
      // Survivors' CPU from the kill until all were back, minus their idle rate (the stream included).
      survivorCpuUsPerReconnect: (stormCpu * 1e6) / Math.max(1, back),
      // Clients' first retry: 1 s minus up to 50 % jitter, so they arrive over 500 ms at most.
      spreadBoundPerSec: dropped / 0.5,
      survivors: after.map((a) => ({ pid: a.pid, connections: a.connections })),
      serverRssAfter: rssAfter,
    },
    stream: { rate: opts.rate, ...streamed, victims, all: everyone },
    totalSeconds: (Date.now() - started) / 1000,
  };
  // What the run must show: every client of the killed node back, and no stream message lost
  // or duplicated unless the client reported the recovery as failed.
  const notBackStates = {};
  for (const b of backTimes)
    for (const [state, n] of Object.entries(b.notBackStates ?? {}))
      notBackStates[state] = (notBackStates[state] ?? 0) + n;
  result.kill.notBackStates = notBackStates;
  const failures = [];
  if (dropped === 0) failures.push('no client saw the kill');
  if (back !== dropped) failures.push(`${dropped - back} clients not back: ${JSON.stringify(notBackStates)}`);
  if (everyone.unreported > 0)
    failures.push(`stream: ${everyone.unreported} watchers lost or doubled messages unreported`);
  if (connected < opts.connections) failures.push(`${opts.connections - connected} clients never connected`);
  result.ok = failures.length === 0;
  result.failures = failures;
  summary(result);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));
  console.log(`RESULT ${JSON.stringify(result)}`);
  if (failures.length) {
    console.error(`FAILED: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await Promise.race([cleanup(), sleep(60_000)]);
}
process.exit();

/** Highest number of connections in one `bucketMs` window, summed over nodes, per second. */
function peakPerSecond(stats, bucketMs) {
  const buckets = new Map();
  for (const s of stats)
    for (const [w, n] of s.windows) {
      const b = Math.floor((w * 100) / bucketMs);
      buckets.set(b, (buckets.get(b) ?? 0) + n);
    }
  return Math.max(0, ...buckets.values()) * (1000 / bucketMs);
}

function summary(r) {
  const k = r.kill;
  const s = r.stream;
  console.log(`
${fmt(r.connected)} idle connections on ${r.nodes} Tether nodes (cluster, one port, RedisBus), ${r.clientProcesses} client processes
  ramp-up               ${fmt(r.connected)} opened and joined (${fmt(r.failed)} failed) in ${fmt(r.rampSeconds, 1)} s: ${fmt(r.openedPerSec)}/s (peak ${fmt(r.rampPeakPerSec)}/s); server CPU ${fmt(r.rampServerCpuUsPerConnection)} µs per connection
  server RSS            ${mb(r.serverRss)} summed over ${r.nodes} nodes + primary (${mb(r.serverRssBaseline)} with no connection): ${fmt(r.serverRssPerConnection)} B per connection all in, ${fmt(r.serverRssPerConnectionOverBaseline)} B over the baseline
  server memory         ${mb(r.serverFootprint)} with the node binary's pages counted once (${mb(r.serverFootprintBaseline)} with no connection): ${fmt(r.serverFootprintPerConnection)} B per connection all in
  heartbeat CPU         ${fmt(r.heartbeatCpuUsPerConnSec, 2)} µs per connection per second (heartbeat every ${r.heartbeatMs} ms; ${fmt(r.idleServerCpuPct, 1)} % of a core for all nodes)
  Redis                 ${mb(r.redisUsedMemory)}; idle CPU ${fmt(r.redisIdleCpuPct, 1)} % of a core = ${fmt(r.redisIdleCpuUsPerConnSec, 2)} µs per connection per second
  client processes      ${mb(r.clientRss)} RSS
  machine               ${fmt(r.machineBusyCoresIdle, 2)} cores busy during the idle window, ${fmt(r.otherLoadCoresIdle, 2)} of them other work; load ${r.loadAverageBefore.map((x) => fmt(x, 2)).join(' ')}
  node killed           ${fmt(k.victimConnections)} connections; ${fmt(k.back)}/${fmt(k.dropped)} back on the others after ${fmt(k.allBackMs)} ms (first after ${fmt(k.firstBackMs)} ms)
  reconnect peak        ${fmt(k.peakPerSec1s)}/s over 1 s, ${fmt(k.peakPerSec100ms)}/s over 100 ms (clients' jitter bounds it near ${fmt(k.spreadBoundPerSec)}/s); survivors' CPU ${fmt(k.survivorCpuUsPerReconnect)} µs per reconnect
  survivors             ${k.survivors.map((x) => fmt(x.connections)).join(' / ')} connections; server RSS ${mb(k.serverRssAfter)}
  room stream           ${s.lastSeq} messages at ${s.rate}/s; killed node's ${s.victims.watchers} watchers: ${s.victims.missing} lost, ${s.victims.duplicates} duplicates, ${s.victims.recoveryFailed} recovery-failed (all ${s.all.watchers} watchers: ${s.all.missing} lost, ${s.all.duplicates} duplicates)
  took                  ${fmt(r.totalSeconds)} s
`);
}
