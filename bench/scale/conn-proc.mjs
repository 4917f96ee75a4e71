// Load generator for the capacity measurements: many raw WebSocket connections speaking Tether's
// wire protocol (docs/protocol.md) with as little client-side work as possible: `hello`, joins,
// `pong` for every `ping`, and counting (frames, bytes, publish-to-receive latency) of room
// messages. Driven over IPC (see lib.mjs `worker`).
import { WebSocket } from 'ws';
import { percentile, serve, sleep } from './lib.mjs';

const sockets = [];
const stats = {
  connected: 0,
  joined: 0,
  failed: 0,
  closed: 0,
  frames: 0,
  bytes: 0,
  msgs: 0,
  byKind: {},
  latency: [],
};
const MAX_SAMPLES = 200_000;
let joinSeq = 0;

const frameBytes = (len) => len + (len < 126 ? 2 : len < 65536 ? 4 : 10);

/** Rooms of connection `g` (a global index) under `plan`; see docs/scaling.md for the workloads. */
function roomsOf(g, plan) {
  const rooms = [];
  if (plan.user) rooms.push(`user:${g}`);
  if (plan.posts) rooms.push(`post:${g % plan.posts}`);
  if (plan.orderEvery && g % plan.orderEvery === 0) rooms.push(`order:${Math.floor(g / plan.orderEvery)}`);
  if (plan.shared) rooms.push(plan.shared);
  return rooms;
}

function open(url, localAddress, rooms, timeoutMs) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'tether.v1.json', { localAddress, perMessageDeflate: false });
    let joined = 0;
    let settled = false;
    const done = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done(false);
    }, timeoutMs);
    ws.on('open', () => ws.send('{"t":"hello"}'));
    ws.on('message', (raw) => {
      const text = raw.toString();
      stats.frames++;
      stats.bytes += frameBytes(raw.length);
      if (text.startsWith('{"t":"ping"')) {
        ws.send('{"t":"pong"}');
        return;
      }
      if (text.startsWith('{"t":"msg"')) {
        const m = JSON.parse(text);
        stats.msgs++;
        const kind = m.r.slice(0, m.r.indexOf(':'));
        stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
        if (typeof m.d?.ts === 'number' && stats.latency.length < MAX_SAMPLES)
          stats.latency.push(Date.now() - m.d.ts);
        return;
      }
      if (text.startsWith('{"t":"welcome"')) {
        if (rooms.length === 0) done(true);
        for (const r of rooms) ws.send(JSON.stringify({ t: 'join', id: `j${++joinSeq}`, r }));
        return;
      }
      if (text.startsWith('{"t":"err"')) {
        ws.terminate();
        done(false);
        return;
      }
      if (text.startsWith('{"t":"res"')) {
        joined++;
        if (joined === rooms.length) {
          stats.joined++;
          done(true);
        }
      }
    });
    ws.on('error', () => done(false));
    ws.on('close', () => {
      stats.closed++;
      done(false);
    });
    sockets.push(ws);
  });
}

serve({
  /**
   * Opens `n` connections (global indexes `start`..`start + n - 1`) spread over `targets`, from
   * source addresses 127.0.0.2.. (so one process is not limited by ephemeral ports).
   */
  async connect({ targets, n, start = 0, addresses = 8, concurrency = 200, plan = {}, timeoutMs = 20_000 }) {
    const began = Date.now();
    let next = 0;
    const run = async () => {
      while (next < n) {
        const i = next++;
        const g = start + i;
        const target = targets[g % targets.length];
        const ok = await open(
          `ws://${target.host}:${target.port}/tether`,
          `127.0.0.${2 + (g % addresses)}`,
          roomsOf(g, plan),
          timeoutMs,
        );
        if (ok) stats.connected++;
        else stats.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, run));
    return { connected: stats.connected, joined: stats.joined, failed: stats.failed, ms: Date.now() - began };
  },
  stats() {
    const sorted = [...stats.latency].sort((a, b) => a - b);
    return {
      connected: stats.connected,
      open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
      failed: stats.failed,
      closed: stats.closed,
      frames: stats.frames,
      bytes: stats.bytes,
      msgs: stats.msgs,
      byKind: stats.byKind,
      samples: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? 0,
    };
  },
  reset() {
    Object.assign(stats, { frames: 0, bytes: 0, msgs: 0, byKind: {}, latency: [] });
  },
  async close() {
    for (const ws of sockets) ws.terminate();
    await sleep(50);
  },
});
