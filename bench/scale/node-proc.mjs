// One Tether node for the capacity measurements, driven over IPC (see lib.mjs `worker`).
// Environment: BUS = memory | redis | cluster, REDIS_URL (redis), CLUSTER_NODES (JSON, cluster),
// HEARTBEAT_MS (default 25000, Tether's default).
import { createServer } from 'node:http';
import { RedisBus } from '@tether/redis-bus';
import { MemoryBus, TetherServer } from '@tether/server';
import { serve } from './lib.mjs';

const kind = process.env.BUS ?? 'memory';
const bus =
  kind === 'redis'
    ? new RedisBus({ url: process.env.REDIS_URL })
    : kind === 'cluster'
      ? new RedisBus({ cluster: { nodes: JSON.parse(process.env.CLUSTER_NODES) } })
      : new MemoryBus();

const http = createServer((_req, res) => res.end('ok'));
const tether = new TetherServer({
  server: http,
  bus,
  heartbeat: { intervalMs: Number(process.env.HEARTBEAT_MS ?? 25_000) },
  authorizeJoin: () => true,
  // The workloads of docs/scaling.md: typing is volatile (never stored); the rest keeps 100 messages.
  history: (room) => (room.startsWith('typing:') ? false : { size: 100, ttlMs: 120_000 }),
  rateLimit: false,
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));

const gc = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};

serve({
  info: () => ({ port: http.address().port, pid: process.pid }),
  mem: () => {
    gc();
    return process.memoryUsage();
  },
  metrics: () => tether.metrics(),
  busStatus: () => bus.status,
  async close() {
    await tether.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await bus.close();
  },
});
