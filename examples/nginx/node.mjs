#!/usr/bin/env node
// One Tether node of the nginx deployment: the chat example's server (examples/chat/app.mjs) on
// 127.0.0.1:PORT, with its rooms on the Redis at REDIS_URL. start.mjs runs three of these.
// Prints one JSON line when it listens, so a parent process knows it is up.
import { startChat } from '../chat/app.mjs';

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  console.error('node.mjs: REDIS_URL is required (several nodes share rooms through Redis)');
  process.exit(2);
}

const chat = await startChat({
  port: Number(process.env.PORT ?? 0),
  host: '127.0.0.1',
  redisUrl,
  nodeName: process.env.NODE_NAME,
});
console.log(JSON.stringify({ ready: true, node: chat.nodeName, port: chat.port, pid: process.pid }));

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    // Graceful: clients are told to reconnect (to another node, through nginx) with jitter.
    await chat.close();
    process.exit(0);
  });
}
