// Reconnect storm: 5 000 clients on one node; the node goes away and comes back (crash +
// restart on the same port), or drains to a second node (graceful close with a reconnect
// spread). Reports how long until every client is open again and the peak connection rate
// the surviving node sees, per 100 ms window.
//
//   node bench/reconnect-storm.mjs [--clients 5000] [--mode crash|drain|both] [--spread 5000]
//
// Server and clients run in separate processes; every phase has a time limit.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    clients: { type: 'string', default: '5000' },
    mode: { type: 'string', default: 'both' },
    spread: { type: 'string', default: '5000' },
    port: { type: 'string', default: '0' },
  },
});

const WINDOW_MS = 100;

async function serverRole() {
  const { TetherServer } = await import('@tether/server');
  const http = createServer();
  const tether = new TetherServer({ server: http, reconnectSpreadMs: Number(args.spread) });
  const windows = new Map();
  tether.on('connection', () => {
    const w = Math.floor(Date.now() / WINDOW_MS);
    windows.set(w, (windows.get(w) ?? 0) + 1);
  });
  await new Promise((resolve) => http.listen(Number(args.port), '127.0.0.1', resolve));
  process.send({ type: 'listening', port: http.address().port });
  process.on('message', async (msg) => {
    if (msg.type === 'stats')
      process.send({ type: 'stats', windows: [...windows], connections: tether.connections.size });
    if (msg.type === 'drain') {
      await tether.close();
      process.send({ type: 'drained' });
    }
  });
}

async function clientRole() {
  const { TetherClient } = await import('@tether/client');
  const count = Number(args.clients);
  const clients = [];
  const urls = JSON.parse(process.env.STORM_URLS);
  const open = () => clients.reduce((n, c) => n + (c.state === 'open' ? 1 : 0), 0);
  setInterval(
    () => process.connected && process.send({ type: 'open', open: open(), at: Date.now() }),
    50,
  ).unref();
  for (let i = 0; i < count; i++) {
    clients.push(new TetherClient(urls[i % urls.length], { transports: ['websocket'] }));
    if (i % 250 === 249) await new Promise((r) => setTimeout(r, 50));
  }
  process.on('message', (msg) => {
    if (msg.type === 'close') {
      for (const c of clients) c.close();
      process.exit(0);
    }
  });
}

function start(role, extra = [], env = {}) {
  const child = fork(new URL(import.meta.url).pathname, ['--role', role, ...extra], {
    env: { ...process.env, ...env },
    execArgv: ['--max-old-space-size=4096'],
  });
  return child;
}

const nextMessage = (child, type, timeoutMs) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg) => {
      if (msg.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg);
    };
    child.on('message', onMessage);
  });

/** Waits until the clients noticed the outage (fewer than `count` open). */
async function waitDropped(clientProc, count, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const msg = await nextMessage(clientProc, 'open', 30_000);
    if (msg.open < count) return;
  }
  throw new Error(`the clients did not notice the outage within ${timeoutMs} ms`);
}

async function waitOpen(clientProc, target, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    const msg = await nextMessage(clientProc, 'open', 30_000);
    last = msg.open;
    if (msg.open >= target) return msg.at;
  }
  throw new Error(`only ${last}/${target} clients open after ${timeoutMs} ms`);
}

function peak(windows, since) {
  let best = 0;
  for (const [w, n] of windows) if (w * WINDOW_MS >= since) best = Math.max(best, n);
  return best * (1000 / WINDOW_MS);
}

async function crashScenario(count) {
  let server = start('server');
  const { port } = await nextMessage(server, 'listening', 10_000);
  const url = `http://127.0.0.1:${port}/tether`;
  const clients = start('client', ['--clients', String(count)], { STORM_URLS: JSON.stringify([url]) });
  try {
    await waitOpen(clients, count, 120_000);
    server.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    server = start('server', ['--port', String(port)]);
    await nextMessage(server, 'listening', 10_000);
    const upAt = Date.now();
    await waitDropped(clients, count, 30_000).catch(() => {});
    const allBackAt = await waitOpen(clients, count, 120_000);
    server.send({ type: 'stats' });
    const stats = await nextMessage(server, 'stats', 10_000);
    return {
      scenario: 'crash + restart',
      clients: count,
      downMs: upAt - killedAt,
      allBackMs: allBackAt - upAt,
      peakPerSecond: peak(stats.windows, upAt),
    };
  } finally {
    clients.send({ type: 'close' });
    server.kill('SIGKILL');
  }
}

/** A minimal TCP load balancer on loopback whose target can be switched. */
async function forwarder(initialTarget) {
  const sockets = new Set();
  const proxy = {
    target: initialTarget,
    url: '',
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(r);
      }),
  };
  const server = createTcpServer((client) => {
    const upstream = connect(proxy.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${server.address().port}/tether`;
  return proxy;
}

async function drainScenario(count) {
  const a = start('server');
  const b = start('server');
  const [{ port: portA }, { port: portB }] = await Promise.all([
    nextMessage(a, 'listening', 10_000),
    nextMessage(b, 'listening', 10_000),
  ]);
  // The clients sit behind a load balancer; when node A drains, the balancer sends new connections to B.
  const proxy = await forwarder(portA);
  const clients = start('client', ['--clients', String(count)], { STORM_URLS: JSON.stringify([proxy.url]) });
  try {
    await waitOpen(clients, count, 120_000);
    proxy.target = portB;
    const drainAt = Date.now();
    a.send({ type: 'drain' });
    await waitDropped(clients, count, 30_000);
    await nextMessage(a, 'drained', 60_000);
    const allBackAt = await waitOpen(clients, count, 120_000);
    b.send({ type: 'stats' });
    const stats = await nextMessage(b, 'stats', 10_000);
    return {
      scenario: `drain to another node (spread ${args.spread} ms)`,
      clients: count,
      downMs: 0,
      allBackMs: allBackAt - drainAt,
      peakPerSecond: peak(stats.windows, drainAt),
    };
  } finally {
    clients.send({ type: 'close' });
    await proxy.close();
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
}

async function main() {
  const count = Number(args.clients);
  const results = [];
  if (args.mode === 'crash' || args.mode === 'both') results.push(await crashScenario(count));
  if (args.mode === 'drain' || args.mode === 'both') results.push(await drainScenario(count));
  console.log('| scenario | clients | node down (ms) | all back after (ms) | peak connections/s |');
  console.log('|---|---|---|---|---|');
  for (const r of results)
    console.log(
      `| ${r.scenario} | ${r.clients} | ${r.downMs} | ${r.allBackMs} | ${Math.round(r.peakPerSecond)} |`,
    );
  process.exit(0);
}

if (args.role === 'server') await serverRole();
else if (args.role === 'client') await clientRole();
else await main();
