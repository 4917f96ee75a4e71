#!/usr/bin/env node
// The ceiling of one shard: how many RedisBus publish scripts one redis-server runs per second
// when nothing else limits it, and what one costs it in CPU.
//
//   node bench/scale/shard-ceiling.mjs [--requests 300000] [--clients 50] [--pipeline 16] [--subscribers 1]
//
// publish.mjs drives Redis from Node, and on a 2-core machine the Node publishers (30-60 µs of
// CPU per publish) starve Redis long before Redis is busy. Here redis-benchmark (C, cheap) runs
// the very script RedisBus uses (captured with MONITOR from a real RedisBus.publish, so it is
// byte for byte the same, history on) against (1) one Redis and (2) one master of a 3-master
// cluster (SPUBLISH variant), with `subscribers` redis-cli processes subscribed to the room
// channel. Reported: scripts/s and Redis CPU, hence µs per publish and publishes/s per core.
import { spawn } from 'node:child_process';
import { RedisBus } from '@tether/redis-bus';
import { args, cpuSeconds, fmt, redisCli, sleep, spawnChild, startCluster, startRedis } from './lib.mjs';
import { keySlotOf } from './slot.mjs';

const opts = args({ requests: 300_000, clients: 50, pipeline: 16, subscribers: 1, json: '' });

/** Runs one RedisBus.publish against `port` while MONITOR watches; returns the EVALSHA line's arguments. */
async function captureScript(port, bus, room) {
  const monitor = spawn('redis-cli', ['-p', String(port), 'monitor'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  monitor.stdout.on('data', (c) => {
    out += c;
  });
  await sleep(300);
  await bus.publish({
    room,
    event: 'm',
    data: { text: 'x'.repeat(70) },
    history: { size: 100, ttlMs: 120_000 },
  });
  await sleep(300);
  monitor.kill();
  const line = out.split('\n').find((l) => /"evalsha"/i.test(l));
  if (!line) throw new Error(`no EVALSHA seen by MONITOR:\n${out}`);
  // MONITOR prints each argument quoted: "evalsha" "<sha>" "3" "k1" ...
  const parts = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\'),
  );
  return parts.slice(1);
}

async function ceiling(label, port, pid, scriptArgs, channel, sharded) {
  const subs = Array.from({ length: opts.subscribers }, () =>
    spawnChild('redis-cli', ['-p', String(port), sharded ? 'ssubscribe' : 'subscribe', channel], {
      stdio: ['ignore', 'ignore', 'ignore'],
    }),
  );
  await sleep(300);
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  const bench = spawn(
    'redis-benchmark',
    [
      '-p',
      String(port),
      '-c',
      String(opts.clients),
      '-P',
      String(opts.pipeline),
      '-n',
      String(opts.requests),
      '-q',
      'evalsha',
      ...scriptArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  bench.stdout.on('data', (c) => {
    out += c;
  });
  bench.stderr.on('data', (c) => {
    out += c;
  });
  await new Promise((resolve) => bench.once('exit', resolve));
  const seconds = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - c0;
  for (const s of subs) s.kill();
  const rate = opts.requests / seconds;
  const usPer = (cpu * 1e6) / opts.requests;
  const errors = /ERR|NOSCRIPT|MOVED/.test(out) ? out.trim().split('\n').slice(-2).join(' ') : '';
  const result = {
    label,
    requests: opts.requests,
    seconds,
    rate,
    redisCpuPct: (100 * cpu) / seconds,
    usPerPublish: usPer,
    perCore: 1e6 / usPer,
    errors,
  };
  console.log(`
${label}: redis-benchmark -c ${opts.clients} -P ${opts.pipeline}, ${opts.subscribers} subscriber(s)
  scripts run      ${fmt(opts.requests)} in ${fmt(seconds, 1)} s = ${fmt(rate)} /s${errors ? `  (!) ${errors}` : ''}
  Redis CPU        ${fmt(result.redisCpuPct)} % of a core = ${fmt(usPer, 1)} µs per publish -> ${fmt(result.perCore)} publishes/s per core`);
  return result;
}

const results = [];
{
  const redis = await startRedis();
  const bus = new RedisBus({ url: redis.url });
  try {
    const room = 'bench';
    const scriptArgs = await captureScript(redis.port, bus, room);
    results.push(
      await ceiling(
        'one Redis, PUBLISH script',
        redis.port,
        redis.pids[0],
        scriptArgs,
        `tether:{${room}}:ch`,
        false,
      ),
    );
  } finally {
    await bus.close();
    await redis.stop();
  }
}
{
  const cluster = await startCluster(3);
  const bus = new RedisBus({ cluster: { nodes: cluster.nodes } });
  try {
    // A room whose slot the first master serves, so redis-benchmark can talk to that node alone.
    const owned = redisCli(cluster.ports[0], 'cluster', 'slots');
    const ranges = [];
    const lines = owned.split('\n');
    for (let i = 0; i + 2 < lines.length; i++) {
      if (lines[i + 3] === String(cluster.ports[0])) ranges.push([Number(lines[i]), Number(lines[i + 1])]);
    }
    let room = 'bench';
    for (let i = 0; i < 100_000; i++) {
      const slot = keySlotOf(`bench${i}`);
      if (ranges.some(([a, b]) => slot >= a && slot <= b)) {
        room = `bench${i}`;
        break;
      }
    }
    const scriptArgs = await captureScript(cluster.ports[0], bus, room);
    results.push(
      await ceiling(
        'one master of a 3-master cluster, SPUBLISH script',
        cluster.ports[0],
        cluster.pids[0],
        scriptArgs,
        `tether:{${room}}:ch`,
        true,
      ),
    );
  } finally {
    await bus.close();
    await cluster.stop();
  }
}
if (opts.json) (await import('node:fs')).writeFileSync(opts.json, JSON.stringify(results, null, 2));
