#!/usr/bin/env node
// Tether benchmarks against raw ws and Socket.IO. See bench/README.md.
//   node bench/run.mjs [--scenario fanout,rpc,memory,crossnode,scale,inbox] [--only ws,socketio,tether]
//                      [--runs 3] [--quick] [--write] [--out docs] [--scale-max 30000] [--verbose]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inboxLines, runInbox } from './lib/inbox-scenario.mjs';
import { Child, killAll, setVerbose } from './lib/proc.mjs';
import { startRedis } from './lib/redis.mjs';
import {
  loadLine,
  markdownTable,
  problemsOf,
  STACK_NAMES,
  scenarioRows,
  svgChart,
  textTable,
} from './lib/report.mjs';
import { Trial } from './lib/trial.mjs';
import { PAYLOAD_BYTES } from './lib/util.mjs';
import crossnode from './scenarios/crossnode.mjs';
import fanout from './scenarios/fanout.mjs';
import memory from './scenarios/memory.mjs';
import rpc from './scenarios/rpc.mjs';
import scale from './scenarios/scale.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const ALL_SCENARIOS = { fanout, rpc, memory, crossnode, scale };
const SHORT = {
  fanout: 'Fan-out',
  rpc: 'Request/ack',
  memory: 'Memory',
  crossnode: 'Cross-node',
  scale: 'Scale',
};
const ALL_STACKS = ['ws', 'socketio', 'tether'];

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) console.error(`error: ${msg}\n`);
  console.error(`usage: node bench/run.mjs [options]
  --scenario LIST   fanout,rpc,memory,crossnode,scale,inbox (default: all; inbox needs PostgreSQL)
  --only LIST       ws,socketio,tether (default: all)
  --runs N          repetitions per scenario and stack; medians reported (default 3, 1 with --quick)
  --quick           small smoke configuration (about 2 minutes)
  --write           write docs/benchmarks.md and docs/benchmarks.svg
  --out DIR         directory for --write (default: <repo>/docs)
  --json FILE       also write the raw results as JSON
  --scale-max N     connection cap of the scale scenario (default 30000)
  --verbose         show the children's stderr`);
  process.exit(msg ? 2 : 0);
}
function parseArgs(argv) {
  const o = {
    scenarios: [...Object.keys(ALL_SCENARIOS), 'inbox'],
    stacks: ALL_STACKS,
    runs: null,
    quick: false,
    write: false,
    out: null,
    json: null,
    scaleMax: null,
    verbose: false,
  };
  const list = (v, allowed, what) => {
    const xs = String(v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const x of xs)
      if (!allowed.includes(x)) usage(`unknown ${what} '${x}' (one of ${allowed.join(', ')})`);
    if (!xs.length) usage(`--${what} needs a value`);
    return xs;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    if (a.includes('=')) [a, v] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    const val = () => v ?? argv[++i];
    switch (a) {
      case '--':
        break;
      case '--scenario':
      case '--scenarios':
        o.scenarios = list(val(), [...Object.keys(ALL_SCENARIOS), 'inbox'], 'scenario');
        break;
      case '--only':
        o.stacks = list(val(), ALL_STACKS, 'only');
        break;
      case '--runs':
        o.runs = Number.parseInt(val(), 10);
        o.runsExplicit = true;
        if (!(o.runs >= 1)) usage('--runs must be >= 1');
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--write':
        o.write = true;
        break;
      case '--out':
        o.out = val();
        break;
      case '--json':
        o.json = val();
        break;
      case '--scale-max':
        o.scaleMax = Number.parseInt(val(), 10);
        if (!(o.scaleMax >= 1)) usage('--scale-max must be >= 1');
        break;
      case '--verbose':
      case '-v':
        o.verbose = true;
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  o.runs ??= o.quick ? 1 : 3;
  // Keep the canonical order whatever order the flags gave.
  o.inbox = o.scenarios.includes('inbox');
  o.scenarios = Object.keys(ALL_SCENARIOS).filter((s) => o.scenarios.includes(s));
  o.stacks = ALL_STACKS.filter((s) => o.stacks.includes(s));
  return o;
}

// ---------------------------------------------------------------- environment
function fdLimit() {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line
      .trim()
      .split(/\s+/)
      .slice(3, 5)
      .map((x) => (x === 'unlimited' ? Number.POSITIVE_INFINITY : Number(x)));
    return { soft, hard };
  } catch {
    try {
      const n = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
      return { soft: n, hard: n };
    } catch {
      return { soft: Number.NaN, hard: Number.NaN };
    }
  }
}
function portRange() {
  try {
    const [lo, hi] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    return hi - lo + 1;
  } catch {
    return 28000;
  }
}
function pkgVersion(rel) {
  try {
    return JSON.parse(fs.readFileSync(path.join(BENCH, 'node_modules', rel, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
function machine(fd) {
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model?.trim() ?? 'unknown'} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    node: process.version,
    fd: `${fd.soft} (hard ${fd.hard}); Node raises the soft limit to the hard one, children inherit it`,
    versions: `ws ${pkgVersion('ws')}, socket.io ${pkgVersion('socket.io')}, socket.io-client ${pkgVersion('socket.io-client')}, @socket.io/redis-adapter ${pkgVersion('@socket.io/redis-adapter')}, ioredis ${pkgVersion('ioredis')}, @tether/server ${pkgVersion('@tether/server')}`,
  };
}
function commandLine() {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `pnpm bench${args ? ` -- ${args}` : ''}`;
  return `node bench/run.mjs${args ? ` ${args}` : ''}`;
}

async function probe(stack) {
  const c = new Child(path.join(BENCH, 'lib/probe-proc.mjs'), { name: `${stack}:probe` });
  try {
    await c.start();
    const r = await c.call('probe', { stack }, 20000);
    for (const k of ['server', 'client', 'bus']) {
      if (r[k] && /cannot find (module|package)|ERR_MODULE_NOT_FOUND/i.test(r[k]))
        r[k] += ' (run `pnpm build` first)';
    }
    return r;
  } catch (err) {
    return { server: String(err.message), client: String(err.message), bus: String(err.message) };
  } finally {
    await c.stop(2000);
  }
}

const log = (...a) => console.log(...a);
const fmtS = (ms) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------- main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  setVerbose(opts.verbose);
  const fd = fdLimit();
  const ports = portRange();
  const m = machine(fd);
  const started = new Date();
  log(`Tether benchmarks — ${commandLine()}`);
  log(`  ${m.cpu}, ${m.memory}, ${m.os}, Node ${m.node}`);
  log(
    `  open files: soft ${fd.soft}, hard ${fd.hard}; ephemeral ports: ${ports}; payload ${PAYLOAD_BYTES} bytes`,
  );
  const loadBefore = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  log(
    `  load average before start: ${loadBefore}${os.loadavg()[0] > 0.5 * os.cpus().length ? '  (the machine is busy: figures will be noisy)' : ''}`,
  );
  log(
    `  scenarios: ${[...opts.scenarios, ...(opts.inbox ? ['inbox'] : [])].join(', ')}; stacks: ${opts.stacks.join(', ')}; runs: ${opts.runs}${opts.quick ? ' (quick)' : ''}`,
  );

  // Which stacks can run at all?
  const avail = {};
  for (const s of opts.stacks) {
    avail[s] = await probe(s);
    const p = avail[s];
    if (p.server || p.client) log(`  ${STACK_NAMES[s]}: not available — ${p.server ?? p.client}`);
    else if (p.bus) log(`  ${STACK_NAMES[s]}: cross-node bus not available — ${p.bus}`);
  }

  const results = [];
  let redis = null;
  const t0 = Date.now();
  try {
    for (const name of opts.scenarios) {
      const sc = ALL_SCENARIOS[name];
      const cfg = sc.config(opts);
      const entry = {
        name,
        short: SHORT[name],
        title: sc.title(cfg),
        describe: sc.describe(cfg),
        metrics: sc.metrics,
        config: cfg,
        stacks: {},
        problems: [],
      };
      results.push(entry);
      log(`\n■ ${entry.title}`);

      // File descriptors: each process needs one per connection plus some slack.
      const need = sc.fds(cfg);
      const slack = 200;
      const fdCap = { server: Math.max(0, fd.hard - slack), client: Math.max(0, fd.hard - slack) };
      let skip = null;
      if (name === 'scale') {
        if (need.server > fdCap.server || need.client > fdCap.client) {
          const msg = `open-file limit ${fd.hard} caps the scale scenario at ~${fdCap.server} connections (asked ${cfg.max}); raise it in the shell that starts the benchmark (ulimit -n; hard limit via /etc/security/limits.conf or docker --ulimit nofile=...)`;
          log(`  note: ${msg}`);
          entry.problems.push(msg);
        }
      } else if (need.server + slack > fd.hard || need.client + slack > fd.hard) {
        skip = `open-file limit too low: needs ${need.server + slack} per server process and ${need.client + slack} per client process, hard limit is ${fd.hard}. Raise it (ulimit -n) before running; child processes cannot raise the hard limit.`;
        log(`  skipped: ${skip}`);
        entry.problems.push(skip);
      }

      if (!skip && sc.needsRedis && !redis) {
        try {
          redis = await startRedis();
          log(`  redis-server ${redis.url} (pid ${redis.pid})`);
        } catch (err) {
          skip = `Redis not available: ${err.message}`;
          log(`  skipped: ${skip}`);
          entry.problems.push(skip);
        }
      }

      for (const s of opts.stacks) {
        const p = avail[s];
        const reason = p.server ?? p.client ?? (sc.needsRedis ? p.bus : null);
        entry.stacks[s] = reason
          ? { status: 'unavailable', reason, runs: [], errors: [], notes: [] }
          : skip
            ? { status: 'skipped', reason: skip, runs: [], errors: [], notes: [] }
            : { status: 'ok', runs: [], errors: [], notes: [], info: [] };
      }
      if (skip) continue;

      // A scenario may run fewer times by default (scale: ~3 minutes a run); --runs N always wins.
      const runs = opts.runsExplicit ? opts.runs : Math.min(opts.runs, sc.defaultRuns ?? opts.runs);
      entry.runs = runs;
      if (runs !== opts.runs) log(`  ${runs} run(s) by default for this scenario (pass --runs to change)`);
      for (let run = 1; run <= runs; run++) {
        for (const s of opts.stacks) {
          const r = entry.stacks[s];
          if (r.status !== 'ok') continue;
          if (sc.needsRedis) await redis.flush().catch(() => {});
          const trial = new Trial({
            stack: s,
            label: `${name}#${run}`,
            longLivedPids: sc.needsRedis && redis?.pid ? [redis.pid] : [],
          });
          const ts = Date.now();
          let timer;
          try {
            const ctx = { redis, fdCap, fdLimit: fd, portCap: ports - 1500 };
            const out = await Promise.race([
              sc.run(trial, cfg, ctx),
              new Promise((_, rej) => {
                timer = setTimeout(
                  () =>
                    rej(
                      new Error(
                        `trial timed out after ${fmtS(cfg.trialTimeoutMs)}; its processes were killed`,
                      ),
                    ),
                  cfg.trialTimeoutMs,
                );
              }),
            ]);
            const { _info, ...metrics } = out;
            const foreign = trial.foreignLoad();
            r.runs.push(metrics);
            r.info.push(_info);
            if (foreign != null) (r.foreign ??= []).push(foreign);
            r.notes.push(...trial.notes);
            const shown = sc.metrics.map((mt) => `${mt.key}=${fmtVal(metrics[mt.key])}`).join(' ');
            log(
              `  ${STACK_NAMES[s].padEnd(9)} run ${run}: ${shown}  [${fmtS(Date.now() - ts)}${foreign != null ? `, other load ${Math.round(foreign * 100)}%` : ''}]${trial.notes.length ? `  (${trial.notes.join('; ')})` : ''}`,
            );
            if (opts.verbose) log(`    ${JSON.stringify(_info)}`);
          } catch (err) {
            trial.killAll();
            const msg = String(err?.message ?? err)
              .split('\n')[0]
              .slice(0, 400);
            r.errors.push({ run, error: msg });
            log(`  ${STACK_NAMES[s].padEnd(9)} run ${run}: FAILED — ${msg}`);
          } finally {
            clearTimeout(timer);
            await trial.close();
          }
        }
      }
      log('');
      log(textTable(scenarioRows(entry, opts.stacks)));
      for (const p of problemsOf(entry, opts.stacks)) log(`  · ${p}`);
      const ll = loadLine(entry, opts.stacks);
      if (ll) log(`  · ${ll}`);
    }
  } finally {
    if (redis) await redis.stop();
  }
  // Durable notifications on PostgreSQL (bench/lib/inbox-scenario.mjs): Tether only.
  const inbox = opts.inbox ? await runInbox(opts.quick) : null;
  if (inbox) log(`\nDurable notifications (PostgreSQL inbox):\n${inboxLines(inbox).join('\n')}`);

  const elapsed = Date.now() - t0;
  log(`\nDone in ${fmtS(elapsed)}.`);

  m.load = `${loadBefore} before, ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} after (1/5/15-min load averages; other work on the machine skews results)`;
  const report = {
    command: commandLine(),
    date: started.toISOString(),
    elapsedMs: elapsed,
    machine: m,
    options: opts,
    results,
    inbox,
  };
  if (opts.json) {
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    fs.writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
  if (opts.write) {
    const dir = path.resolve(opts.out ?? path.join(ROOT, 'docs'));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'benchmarks.md'), markdown(report));
    fs.writeFileSync(
      path.join(dir, 'benchmarks.svg'),
      svgChart(results, opts.stacks, {
        title: `Tether vs raw ws vs Socket.IO (${started.toISOString().slice(0, 10)})`,
      }),
    );
    log(`wrote ${path.join(dir, 'benchmarks.md')} and benchmarks.svg`);
  }
  const failed = results.some((sc) => Object.values(sc.stacks).some((r) => r.errors?.length));
  process.exitCode = failed ? 1 : 0;
}

function fmtVal(v) {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toString();
  return v.toPrecision(3);
}

function markdown(rep) {
  const { machine: m, options: o, results } = rep;
  const lines = [];
  lines.push('# Benchmarks', '');
  lines.push(
    'Tether against raw [`ws`](https://github.com/websockets/ws) (with a minimal hand-written room broadcast) and Socket.IO 4 (websocket transport only), on one machine over loopback.',
  );
  lines.push('Generated by `bench/run.mjs`; do not edit by hand.', '');
  lines.push(`- **Command:** \`${rep.command}\``);
  lines.push(`- **Date:** ${rep.date} (took ${(rep.elapsedMs / 60000).toFixed(1)} min)`);
  lines.push(`- **CPU:** ${m.cpu}`);
  lines.push(`- **Memory:** ${m.memory}`);
  lines.push(`- **OS:** ${m.os}`);
  lines.push(`- **Node:** ${m.node}`);
  lines.push(`- **Open files:** ${m.fd}`);
  lines.push(`- **Versions:** ${m.versions}`);
  lines.push(`- **Load average:** ${m.load}`);
  lines.push(
    `- **Runs:** ${o.runs} per scenario and stack${o.quick ? ' (quick configuration)' : ''}; cells show the median and (min–max); "× ws" is the ratio of medians to raw ws; ↑ higher is better, ↓ lower is better.`,
  );
  lines.push('');
  lines.push('![Benchmark chart](benchmarks.svg)', '');
  lines.push('## How it is measured', '');
  lines.push(
    "Every server under test runs in its own child process (`child_process.fork`, `--expose-gc`); clients run in one or two other child processes; the orchestrator drives them over IPC. CPU figures are `process.cpuUsage()` (user + system) of the server process(es) only; timestamps use the system-wide monotonic clock. Clients and servers share the machine's cores, so throughput figures are for the whole system on this machine, not the server alone.",
    '',
  );
  lines.push(
    '- **raw ws** encodes each broadcast once (JSON once, WebSocket frame once) and corks each socket on its first send in a tick, uncorking in `process.nextTick`: all messages a socket gets in a tick leave in one write. Backpressure: the broadcaster waits for sockets whose user-land queue exceeds 64 KB.',
  );
  lines.push(
    "- **Socket.IO** is used as an application would: `io.to(room).emit()`, acks with callbacks; backpressure from engine.io's per-connection `writeBuffer` and `drain` event.",
  );
  lines.push(
    '- **Tether** is used through its public API only (`tether.to(room).emit()`, `conn.on(event, handler)` replies, `client.request()`); the broadcaster awaits the promises of each batch of publishes.',
  );
  lines.push('');
  for (const sc of results) {
    lines.push(`## ${sc.title}`, '');
    lines.push(`${sc.describe}${sc.runs !== o.runs ? ` Runs: ${sc.runs}.` : ''}`, '');
    lines.push(markdownTable(scenarioRows(sc, o.stacks)), '');
    const ll = loadLine(sc, o.stacks);
    if (ll) lines.push(ll, '');
    const probs = [...sc.problems, ...problemsOf(sc, o.stacks)];
    if (probs.length) {
      lines.push('Notes:', '');
      for (const p of probs) lines.push(`- ${p}`);
      lines.push('');
    }
  }
  if (rep.inbox) lines.push('## Durable notifications (PostgreSQL inbox)', '', ...inboxLines(rep.inbox), '');
  // Hand-written history (profiling, before/after of fixes) lives beside the harness and is kept
  // across regenerations of this file.
  const history = path.join(path.dirname(new URL(import.meta.url).pathname), 'history.md');
  if (fs.existsSync(history)) lines.push(fs.readFileSync(history, 'utf8').trimEnd(), '');
  return `${lines.join('\n')}\n`;
}

main().catch((err) => {
  console.error(err);
  killAll();
  process.exit(1);
});
