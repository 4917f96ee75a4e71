// Tether, through its public API only (see /work/shared/API.md).
// Backpressure: the promise returned by tether.to(room).emit() ("resolves once published") is the
// only user-visible signal the API names, so the broadcaster awaits every publish of a batch
// before it yields to the event loop and starts the next batch.
//
// Two options that API.md does not name (they are @tether/server's options.ts names today); the
// bench needs them for a like-for-like comparison:
// - `heartbeat: { intervalMs }`: the scale scenario runs every stack with the same ping interval;
// - `rateLimit: false` in the rpc scenario only: ws and Socket.IO have no inbound rate limit, and
//   Tether's default (100 messages/s per connection) would cap the closed loop (RATE_LIMITED replies).
// Extra server options can be given without editing this file (they win over the adapter's):
//   TETHER_BENCH_SERVER_OPTIONS='{"heartbeat":{"intervalMs":5000}}' node bench/run.mjs ...
let TetherServer;
let RedisBus;

export async function load({ redis = false } = {}) {
  ({ TetherServer } = await import('@tether/server'));
  if (typeof TetherServer !== 'function') throw new Error('@tether/server does not export TetherServer');
  if (redis) {
    ({ RedisBus } = await import('@tether/redis-bus'));
    if (typeof RedisBus !== 'function') throw new Error('@tether/redis-bus does not export RedisBus');
  }
}

function extraOptions() {
  const raw = process.env.TETHER_BENCH_SERVER_OPTIONS;
  return raw ? JSON.parse(raw) : {};
}

export async function create({ httpServer, room, redisUrl, heartbeatMs, noRateLimit }) {
  const opts = { server: httpServer };
  if (heartbeatMs) opts.heartbeat = { intervalMs: heartbeatMs };
  if (noRateLimit) opts.rateLimit = false;
  Object.assign(opts, extraOptions());
  let bus;
  if (redisUrl) {
    bus = new RedisBus({ url: redisUrl });
    opts.bus = bus;
  }
  const tether = new TetherServer(opts);
  let ready = 0;
  let served = 0;
  let joinErrors = 0;
  tether.on('connection', (conn) => {
    let joined = false;
    let closed = false;
    conn.on('echo', (data) => {
      served++;
      return data;
    });
    conn.on('close', () => {
      closed = true;
      if (joined) ready--;
    });
    Promise.resolve(conn.join(room)).then(
      () => {
        if (closed) return;
        joined = true;
        ready++;
      },
      () => {
        joinErrors++;
      },
    );
  });

  return {
    ready: () => ready,
    served: () => served,
    info: () => ({ joinErrors }),
    publish(data) {
      return tether.to(room).emit('m', data);
    },
    backpressure: null,
    async close() {
      await tether.close();
      // Not in the API: close the bus if it offers a way to (the process exits right after anyway).
      for (const m of ['close', 'quit', 'disconnect']) {
        if (bus && typeof bus[m] === 'function') {
          await Promise.resolve(bus[m]()).catch(() => {});
          break;
        }
      }
    },
  };
}
