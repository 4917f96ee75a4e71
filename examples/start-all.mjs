#!/usr/bin/env node
/**
 * Starts both examples in this process (the root `pnpm start`, after `pnpm build`):
 * chat on CHAT_PORT (default 3000), tracking on TRACKING_PORT (default 3001). With REDIS_URL set
 * both use a RedisBus instead of their in-memory bus.
 */
import { startChat } from './chat/app.mjs';
import { startTracking } from './tracking/app.mjs';

const redisUrl = process.env.REDIS_URL;
const tracking = await startTracking({ port: Number(process.env.TRACKING_PORT ?? 3001), redisUrl });
// The chat serves the landing page (/start), which links to the tracking pages on this port.
const chat = await startChat({
  port: Number(process.env.CHAT_PORT ?? 3000),
  redisUrl,
  trackingPort: tracking.port,
});

console.log(`
Tether examples (bus: ${redisUrl ? `redis ${redisUrl}` : 'in memory'})
  start here http://localhost:${chat.port}/start   (what to try)
  chat      http://localhost:${chat.port}
  tracking  http://localhost:${tracking.port}   (driver, customer and admin pages)
Ctrl-C stops both.`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await Promise.all([chat.close(), tracking.close()]);
    process.exit(0);
  });
}
