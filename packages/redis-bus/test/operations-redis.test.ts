import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TetherClient } from '@tether/client';
import { TetherServer } from '@tether/server';
import { RedisServer, TcpProxy, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
});

async function node(redisUrl: string, prefix: string) {
  const http: Server = createServer((_req, res) => res.end('app'));
  const tether = new TetherServer({
    server: http,
    bus: new RedisBus({ url: redisUrl, keyPrefix: prefix }),
    authorizeJoin: () => true,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  cleanups.push(async () => {
    await tether.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  return { tether, port, url: `http://127.0.0.1:${port}/tether` };
}

describe('readiness follows Redis', () => {
  it('answers 503 on /health while Redis is down and 200 once it is back', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const server = await node(redis.url, 'health:');
    await waitFor(() => server.tether.health().ready, { timeout: 5_000, message: 'ready at start' });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    await redis.kill();
    await waitFor(() => !server.tether.health().ready, {
      timeout: 5_000,
      message: 'not ready while Redis is down',
    });
    const down = await fetch(`${server.url}/health`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ ready: false, bus: 'down' });
    await redis.restart();
    await waitFor(() => server.tether.health().ready, {
      timeout: 10_000,
      message: 'ready again after the restart',
    });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('publishing from a backend process', () => {
  it('reaches clients on two nodes, and a client cut off meanwhile recovers what it missed', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const prefix = 'emit:';
    const [a, b] = [await node(redis.url, prefix), await node(redis.url, prefix)];
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: b.port } });
    cleanups.push(() => proxy.close());
    const onA = new TetherClient(a.url, {
      transports: ['websocket'],
      reconnect: { initialDelay: 20, maxDelay: 100 },
    });
    const onB = new TetherClient(proxy.url('/tether'), {
      transports: ['websocket'],
      reconnect: { initialDelay: 20, maxDelay: 100 },
    });
    cleanups.push(
      () => onA.close(),
      () => onB.close(),
    );
    const got: Record<'a' | 'b', string[]> = { a: [], b: [] };
    (await onA.join('order:42')).on('status', (d) => got.a.push(d as string));
    (await onB.join('order:42')).on('status', (d) => got.b.push(d as string));

    // The backend: a separate process holding no connection, only an emitter on the same Redis.
    const publish = (states: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = fork(
          fileURLToPath(new URL('./fixtures/emitter-process.mjs', import.meta.url)),
          [redis.url, prefix, ...states],
          {
            stdio: 'inherit',
          },
        );
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`emitter process exited with ${code}`)),
        );
      });

    await publish(['accepted']);
    await waitFor(() => got.a.length === 1 && got.b.length === 1, {
      timeout: 5_000,
      message: 'first status on both nodes',
    });
    proxy.pause(); // the client on node B is cut off while the backend publishes
    await waitFor(() => onB.state === 'reconnecting', { timeout: 3_000, message: 'B reconnecting' });
    await publish(['picked-up', 'on-the-way']);
    proxy.resume();
    await publish(['delivered']);
    await waitFor(() => got.b.length === 4 && got.a.length === 4, {
      timeout: 8_000,
      message: 'every status on both',
    });
    expect(got.a).toEqual(['accepted', 'picked-up', 'on-the-way', 'delivered']);
    expect(got.b).toEqual(['accepted', 'picked-up', 'on-the-way', 'delivered']);
  }, 40_000);
});
