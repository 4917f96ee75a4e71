#!/usr/bin/env node
// `pnpm --filter @tether/example-tracking start`: the tracking example on PORT (default 3001).
// With REDIS_URL=redis://host:port rooms and orders live on Redis, so several nodes can share them.
import { startTracking } from './app.mjs';

const tracking = await startTracking({
  port: Number(process.env.PORT ?? 3001),
  redisUrl: process.env.REDIS_URL,
  nodeName: process.env.NODE_NAME,
});
console.log(
  `tracking example (${tracking.nodeName}) on http://localhost:${tracking.port}  bus: ${process.env.REDIS_URL ? `redis ${process.env.REDIS_URL}` : 'memory'}`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await tracking.close();
    process.exit(0);
  });
}
