#!/usr/bin/env node
// `pnpm --filter @tether/example-chat start`: the chat example on PORT (default 3000).
// With REDIS_URL=redis://host:port the rooms live on Redis, so several nodes can share them.
import { startChat } from './app.mjs';

const chat = await startChat({
  port: Number(process.env.PORT ?? 3000),
  redisUrl: process.env.REDIS_URL,
  nodeName: process.env.NODE_NAME,
});
console.log(
  `chat example (${chat.nodeName}) on http://localhost:${chat.port}  bus: ${process.env.REDIS_URL ? `redis ${process.env.REDIS_URL}` : 'memory'}`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await chat.close();
    process.exit(0);
  });
}
