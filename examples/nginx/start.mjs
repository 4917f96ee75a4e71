#!/usr/bin/env node
// `node examples/nginx/start.mjs` (after `pnpm install && pnpm build`): three Tether nodes (the
// chat example) on RedisBus, behind nginx with plain round-robin on 127.0.0.1. Open the printed
// URL in two browsers: they may be served by different nodes and still chat in the same rooms.
//
// Environment: REDIS_URL (default: a redis-server of its own), NODES (default 3), PORT (nginx's
// port, default a free one), NGINX (path of the nginx binary). Ctrl-C stops everything.
import { findNginx, startDeployment } from './deployment.mjs';

if (!findNginx()) {
  console.error('nginx not found: install it (apt-get install nginx-light) or set NGINX=/path/to/nginx');
  process.exit(1);
}

const deployment = await startDeployment({
  nodes: Number(process.env.NODES ?? 3),
  port: process.env.PORT ? Number(process.env.PORT) : undefined,
  log: (line) => console.log(line),
});

console.log(`
Tether behind nginx: ${deployment.url}
  redis   ${deployment.redisUrl}${process.env.REDIS_URL ? '' : ' (started for this run, keeps nothing)'}
${deployment.nodes.map((n) => `  ${n.name}  http://127.0.0.1:${n.port} (pid ${n.pid})`).join('\n')}
  nginx   ${deployment.dir}/nginx.conf
Kill a node (kill -9 <pid>) and watch its clients move to the others. Ctrl-C stops everything.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await deployment.stop();
    process.exit(0);
  });
}
