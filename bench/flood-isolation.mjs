// Flood isolation: how much does one client flooding the server cost another client's round trips?
//
//   pnpm build && node bench/flood-isolation.mjs [--seconds 12] [--runs 1] [--json out.json]
//
// Three processes on loopback: the server (a TetherServer on a bare http server), a flooder (a raw
// `ws` client that says hello, then sends ~100-byte events as fast as its socket drains, and
// reconnects at once whenever it is closed), and this process, the probe: one TetherClient
// sending a request, awaiting the ack, pausing 10 ms, again. Scenarios, `--seconds` each (the
// default 12 s lets the default 10 s sustained-flood close happen), repeated `--runs` times in
// turn; the table shows medians over the runs:
//
//   baseline      no flood
//   flood-limited flood against the default rate limit (burst 200, 100/s, reading paused while
//                 over it, 4029 after 10 s)
//   flood-off     flood with `rateLimit: false`
//
// Figures: the probe's round-trip p50/p99/max (ms), the flooder's frames sent per second, how many
// the server handled and refused, how often the flooder was closed with 4029. docs/security.md
// quotes a run of it. Every loop is bounded by the scenario's duration.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const role = process.argv[2];
if (role === '--server') await serveRole();
else if (role === '--flooder') await floodRole();
else await main();

// ---- server child ----------------------------------------------------------------------------

async function serveRole() {
  const { TetherServer } = await import('@tether/server');
  const options = JSON.parse(process.argv[3] ?? '{}');
  const http = createServer((_req, res) => res.writeHead(404).end());
  const tether = new TetherServer({ server: http, ...options });
  let events = 0;
  tether.on('connection', (conn) => {
    conn.on('echo', (data) => data);
    conn.on('spam', () => {
      events++;
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  process.on('message', async (message) => {
    if (message === 'metrics') {
      const m = tether.metrics();
      process.send({
        kind: 'metrics',
        events,
        rateLimited: m.messages.rateLimited,
        messagesIn: m.messages.in,
        loopP99: loop.percentile(99) / 1e6,
        loopMax: loop.max / 1e6,
      });
    } else if (message === 'stop') {
      await tether.close();
      http.closeAllConnections();
      http.close(() => process.exit(0));
    }
  });
  process.send({ kind: 'ready', port: http.address().port });
}

// ---- flooder child ---------------------------------------------------------------------------

async function floodRole() {
  const { WebSocket } = await import('ws');
  const url = process.argv[3];
  const until = Date.now() + Number(process.argv[4]);
  const frame = JSON.stringify({ t: 'evt', e: 'spam', d: { pad: 'x'.repeat(60), n: 123456 } });
  let sent = 0;
  let connects = 0;
  const closes = {};
  while (Date.now() < until) {
    const ws = new WebSocket(url, ['tether.v1.json']);
    ws.on('error', () => {});
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    const opened = await Promise.race([
      new Promise((resolve) => ws.once('open', () => resolve(true))),
      closed,
    ]);
    if (opened !== true) continue;
    connects++;
    ws.send(JSON.stringify({ t: 'hello' }));
    let open = true;
    void closed.then((code) => {
      open = false;
      closes[code] = (closes[code] ?? 0) + 1;
    });
    while (open && Date.now() < until) {
      // Keep the socket full without letting this process buffer without bound.
      for (let i = 0; i < 200 && ws.bufferedAmount < 1 << 20; i++) {
        ws.send(frame);
        sent++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    ws.terminate();
    await closed;
  }
  process.send({ kind: 'done', sent, connects, closes });
}

// ---- probe (main) ----------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const seconds = Number(flagValue(args, '--seconds') ?? 12);
  const runs = Number(flagValue(args, '--runs') ?? 1);
  const jsonOut = flagValue(args, '--json');
  const { TetherClient } = await import('@tether/client');
  const scenarios = [
    { name: 'baseline', options: {}, flood: false },
    { name: 'flood-limited', options: {}, flood: true },
    { name: 'flood-off', options: { rateLimit: false }, flood: true },
  ];
  const results = [];
  for (let run = 0; run < runs; run++)
    for (const scenario of scenarios) {
      const server = child('--server', JSON.stringify(scenario.options));
      const { port } = await next(server, 'ready');
      const url = `http://127.0.0.1:${port}/tether`;
      const client = new TetherClient(url, { reconnect: { initialDelay: 50, maxDelay: 500 } });
      await new Promise((resolve) =>
        client.state === 'open' ? resolve() : client.on('state', (s) => s === 'open' && resolve()),
      );
      for (let i = 0; i < 50; i++) await client.request('echo', i); // warm-up
      const flooder = scenario.flood
        ? child('--flooder', url.replace('http', 'ws'), String(seconds * 1_000))
        : undefined;
      const floodDone = flooder ? next(flooder, 'done') : Promise.resolve(undefined);
      const rtts = [];
      let failures = 0;
      const until = Date.now() + seconds * 1_000;
      while (Date.now() < until) {
        const started = performance.now();
        try {
          await client.request('echo', { t: started }, { timeout: 5_000 });
          rtts.push(performance.now() - started);
        } catch {
          failures++;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const flood = await floodDone;
      server.send('metrics');
      const metrics = await next(server, 'metrics');
      client.close();
      server.send('stop');
      await new Promise((resolve) => server.once('exit', resolve));
      rtts.sort((a, b) => a - b);
      const pct = (p) => rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))] ?? Number.NaN;
      results.push({
        scenario: scenario.name,
        run,
        probe: { requests: rtts.length, failures, p50: pct(0.5), p99: pct(0.99), max: rtts.at(-1) },
        serverLoop: { p99: metrics.loopP99, max: metrics.loopMax },
        flood: flood && {
          sentPerSecond: Math.round(flood.sent / seconds),
          connects: flood.connects,
          closes: flood.closes,
          handledPerSecond: Math.round(metrics.events / seconds),
          refused: metrics.rateLimited,
        },
      });
    }
  printTable(summarize(results, scenarios), seconds, runs);
  if (jsonOut) (await import('node:fs')).writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
}

/** Per scenario, the median of every figure over the runs. */
function summarize(results, scenarios) {
  const median = (xs) => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return s.length === 0
      ? Number.NaN
      : s.length % 2
        ? s[s.length >> 1]
        : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return scenarios.map(({ name }) => {
    const rs = results.filter((r) => r.scenario === name);
    const m = (f) => median(rs.map(f));
    const flooded = rs[0].flood !== undefined;
    return {
      scenario: name,
      probe: {
        failures: m((r) => r.probe.failures),
        p50: m((r) => r.probe.p50),
        p99: m((r) => r.probe.p99),
        max: m((r) => r.probe.max),
      },
      serverLoop: { p99: m((r) => r.serverLoop.p99), max: m((r) => r.serverLoop.max) },
      flood: flooded && {
        sentPerSecond: m((r) => r.flood.sentPerSecond),
        handledPerSecond: m((r) => r.flood.handledPerSecond),
        refused: m((r) => r.flood.refused),
        closes: { 4029: m((r) => r.flood.closes[4029] ?? 0) },
      },
    };
  });
}

function printTable(results, seconds, runs) {
  const ms = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  console.log(
    `flood isolation, ${seconds} s per scenario, median of ${runs} run(s), node ${process.version}`,
  );
  console.log(
    '| scenario | probe p50 ms | probe p99 ms | probe max ms | probe failures | server loop delay p99 / max ms | flood sent/s | handled/s | refused | closed 4029 |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const f = r.flood;
    console.log(
      `| ${r.scenario} | ${ms(r.probe.p50)} | ${ms(r.probe.p99)} | ${ms(r.probe.max)} | ${r.probe.failures} | ` +
        `${ms(r.serverLoop.p99)} / ${ms(r.serverLoop.max)} | ` +
        `${f ? f.sentPerSecond : '-'} | ${f ? f.handledPerSecond : '-'} | ${f ? f.refused : '-'} | ${f ? (f.closes[4029] ?? 0) : '-'} |`,
    );
  }
}

function child(...args) {
  return fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next(proc, kind) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${kind}" from child within 60 s`)), 60_000);
    const onMessage = (message) => {
      if (message?.kind !== kind) return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(message);
    };
    proc.on('message', onMessage);
  });
}

function flagValue(args, flag) {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}
