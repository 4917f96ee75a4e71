// One Tether node for the chaos suite, as its own process: a TetherServer on RedisBus over a
// loopback http server, driven by its parent over IPC (fork). Uses the built packages (dist/).
//
// Parent -> child: { type: 'start', room, intervalMs, pad? } publishes { seq } to `room` one after
// the other (the next once the previous settled); { type: 'stop' } ends that and answers
// { type: 'stopped', resolved: [[seq, time]], failed: [seq] }; { type: 'publish', room, seq, id } publishes one
// and answers { type: 'published', id, ok }; { type: 'counters', id } answers the gap counters;
// { type: 'drain', id, drainMs } runs `tether.close({ drainMs })` and answers { type: 'drained', id }.
// Child -> parent: { type: 'ready', port }, { type: 'bus', status }.
import { createServer } from 'node:http';
import { PostgresInbox } from '../packages/postgres/dist/index.js';
import { RedisBus } from '../packages/redis-bus/dist/index.js';
import { TetherServer } from '../packages/server/dist/index.js';

const name = process.env.CHAOS_NODE ?? 'node';
const logger = {
  debug() {},
  info() {},
  warn(fields, message) {
    process.stderr.write(`[${name}] warn ${message} ${JSON.stringify(fields, replacer)}\n`);
  },
  error(fields, message) {
    process.stderr.write(`[${name}] error ${message} ${JSON.stringify(fields, replacer)}\n`);
  },
};
function replacer(_key, value) {
  return value instanceof Error ? value.message : value;
}

const http = createServer((_req, res) => res.end('chaos node'));
// CHAOS_REDIS_CLUSTER: JSON startup nodes of a Redis Cluster, instead of CHAOS_REDIS_URL.
const cluster = process.env.CHAOS_REDIS_CLUSTER
  ? { nodes: JSON.parse(process.env.CHAOS_REDIS_CLUSTER) }
  : undefined;
const bus = new RedisBus({
  ...(cluster ? { cluster } : { url: process.env.CHAOS_REDIS_URL }),
  commandTimeoutMs: 1_000,
  probeTimeoutMs: 500,
  onError: (err) => logger.error({ err }, 'bus callback threw'),
});
// CHAOS_HISTORY_BYTES: a larger byte budget than the default, for faults that publish a lot.
const maxBytes = Number(process.env.CHAOS_HISTORY_BYTES ?? 0);
const history = maxBytes > 0 ? { size: 10_000, ttlMs: 5 * 60_000, maxBytes } : undefined;
// CHAOS_PG_URL: durable notifications in PostgreSQL; clients then say who they are in `auth`.
const inbox = process.env.CHAOS_PG_URL
  ? new PostgresInbox({ connectionString: process.env.CHAOS_PG_URL })
  : undefined;
const identity = inbox
  ? { inbox, authenticate: (_req, auth) => auth, notifications: { ackTimeoutMs: 500 } }
  : {};
const tether = new TetherServer({
  server: http,
  bus,
  logger,
  history,
  authorizeJoin: () => true,
  ...identity,
});
tether.on('bus:status', (status) => process.send?.({ type: 'bus', status }));

let stream;
async function runStream(room, intervalMs, pad) {
  const padding = pad > 0 ? 'x'.repeat(pad) : undefined;
  const state = { stopped: false, resolved: [], failed: [], done: undefined };
  state.done = (async () => {
    for (let seq = 1; !state.stopped && seq <= 1_000_000; seq++) {
      try {
        await tether.to(room).emit('tick', padding ? { seq, pad: padding } : { seq });
        state.resolved.push([seq, Date.now()]);
      } catch {
        state.failed.push(seq);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return state;
}

process.on('message', async (message) => {
  switch (message.type) {
    case 'start':
      stream = await runStream(message.room, message.intervalMs, message.pad ?? 0);
      return;
    case 'stop': {
      const current = stream;
      stream = undefined;
      if (current) {
        current.stopped = true;
        await current.done;
      }
      process.send?.({ type: 'stopped', resolved: current?.resolved ?? [], failed: current?.failed ?? [] });
      return;
    }
    case 'publish': {
      let ok = true;
      try {
        await tether.to(message.room).emit('tick', { seq: message.seq });
      } catch {
        ok = false;
      }
      process.send?.({ type: 'published', id: message.id, ok });
      return;
    }
    case 'drain': {
      await tether.close({ drainMs: message.drainMs });
      process.send?.({ type: 'drained', id: message.id });
      return;
    }
    case 'counters': {
      const c = tether.counters;
      process.send?.({
        type: 'counters',
        id: message.id,
        repaired: c.gapMessagesRepaired,
        lost: c.gapsLost,
        rejoinsRecovered: c.recoveriesOk,
        bus: bus.status,
      });
      return;
    }
  }
});

http.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: http.address().port }));
process.on('disconnect', () => process.exit(0));
