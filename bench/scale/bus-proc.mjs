// A RedisBus in its own process for the capacity measurements, driven over IPC: either a
// publisher (closed loops of RedisBus.publish) or a subscriber (a node subscribed to rooms,
// counting what arrives), or a backend emitting a numbered room stream through TetherEmitter.
// Environment as node-proc.mjs: BUS = redis | cluster, REDIS_URL, CLUSTER_NODES.
import { RedisBus } from '@tether/redis-bus';
import { TetherEmitter } from '@tether/server';
import { percentile, serve } from './lib.mjs';

const bus =
  process.env.BUS === 'cluster'
    ? new RedisBus({ cluster: { nodes: JSON.parse(process.env.CLUSTER_NODES) } })
    : new RedisBus({ url: process.env.REDIS_URL });

const received = { count: 0, latency: [] };
const rand = (n) => Math.floor(Math.random() * n);
let link;
let stream;

serve({
  /** Subscribes a node to `rooms` rooms named `<prefix>0`, `<prefix>1`, ... */
  async subscribe({ prefix = 'room:', rooms }) {
    link = await bus.attach({
      nodeId: `sub-${process.pid}`,
      onRoomMessage: (d) => {
        received.count++;
        if (received.latency.length < 100_000 && typeof d.data?.ts === 'number')
          received.latency.push(Date.now() - d.data.ts);
      },
      onNodeMessage: () => {},
    });
    for (let i = 0; i < rooms; i += 200)
      await Promise.all(
        Array.from({ length: Math.min(200, rooms - i) }, (_, j) => link.subscribe(`${prefix}${i + j}`)),
      );
    return { status: bus.status };
  },
  received() {
    const sorted = [...received.latency].sort((a, b) => a - b);
    return { count: received.count, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  },
  /**
   * `concurrency` closed loops publishing ~`bytes`-byte messages to random rooms for `durationMs`,
   * with history (100 messages, 2 min) as a Tether server would.
   */
  async publish({ prefix = 'room:', rooms, concurrency, durationMs, bytes = 100 }) {
    const text = 'x'.repeat(Math.max(0, bytes - 30));
    const deadline = Date.now() + durationMs;
    const latency = [];
    let count = 0;
    let errors = 0;
    const loop = async () => {
      while (Date.now() < deadline) {
        const room = `${prefix}${Math.floor(Math.random() * rooms)}`;
        const t0 = performance.now();
        try {
          await bus.publish({
            room,
            event: 'm',
            data: { ts: Date.now(), text },
            history: { size: 100, ttlMs: 120_000 },
          });
          count++;
          if (latency.length < 200_000) latency.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    latency.sort((a, b) => a - b);
    return { count, errors, p50: percentile(latency, 50), p99: percentile(latency, 99) };
  },
  /**
   * The workloads of docs/scaling.md at fixed rates (messages/s) for `durationMs`, open loop
   * (ticks every 20 ms): notifications to `user:<n>` (n < users), comments and typing (volatile)
   * to `post:<n>` (n < posts), location updates to `order:<n>` (n < orders).
   */
  async workload({ rates, users, posts, orders, durationMs }) {
    const pad = (n) => 'x'.repeat(n);
    const kinds = [
      {
        name: 'notification',
        rate: rates.notification ?? 0,
        room: () => `user:${rand(users)}`,
        data: { kind: 'like', title: pad(40), body: pad(180), url: pad(40) },
      },
      {
        name: 'comment',
        rate: rates.comment ?? 0,
        room: () => `post:${rand(posts)}`,
        data: { author: pad(20), text: pad(300) },
      },
      {
        name: 'typing',
        rate: rates.typing ?? 0,
        room: () => `post:${rand(posts)}`,
        data: { user: pad(12) },
        volatile: true,
      },
      {
        name: 'location',
        rate: rates.location ?? 0,
        room: () => `order:${rand(orders)}`,
        data: { lat: 48.85661, lng: 2.35222, heading: 270, speed: 8.3 },
      },
    ];
    const sent = Object.fromEntries(kinds.map((k) => [k.name, 0]));
    let errors = 0;
    const inflight = new Set();
    const began = Date.now();
    const history = { size: 100, ttlMs: 120_000 };
    while (Date.now() - began < durationMs) {
      const elapsed = (Date.now() - began) / 1000;
      for (const k of kinds) {
        const due = Math.floor(k.rate * elapsed) - sent[k.name];
        for (let i = 0; i < due; i++) {
          sent[k.name]++;
          const p = bus
            .publish({
              room: k.room(),
              event: k.name,
              data: { ts: Date.now(), ...k.data },
              history: k.volatile ? false : history,
              volatile: k.volatile,
            })
            .catch(() => {
              errors++;
            })
            .finally(() => inflight.delete(p));
          inflight.add(p);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(inflight);
    return { sent, errors, seconds: (Date.now() - began) / 1000 };
  },
  /**
   * Starts a stream of `tick` events `{ seq, ts }` (seq 1, 2, ...) to `room` at `rate` per second,
   * each publish awaited before the next (so the order is the publish order), through
   * TetherEmitter with the servers' history policy for the room. `streamStop` ends it.
   */
  streamStart({ room, rate, history }) {
    const emitter = new TetherEmitter({ bus, history, closeBus: false });
    const state = { seq: 0, errors: 0, stopped: false, began: Date.now() };
    state.done = (async () => {
      while (!state.stopped) {
        const due = Math.floor(((Date.now() - state.began) * rate) / 1000);
        while (state.seq < due && !state.stopped) {
          const seq = state.seq + 1;
          try {
            await emitter.to(room).emit('tick', { seq, ts: Date.now() });
            state.seq = seq;
          } catch {
            state.errors++;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await emitter.close();
    })();
    stream = state;
    return { began: state.began };
  },
  async streamStop() {
    if (!stream) return { lastSeq: 0, errors: 0 };
    stream.stopped = true;
    await stream.done;
    return { lastSeq: stream.seq, errors: stream.errors, seconds: (Date.now() - stream.began) / 1000 };
  },
  async close() {
    if (stream) stream.stopped = true;
    await link?.detach();
    await bus.close();
  },
});
