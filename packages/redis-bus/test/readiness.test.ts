import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { type TetherError, TetherServer } from '@tether/server';
import { freePort, RedisServer, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
});

/** A server on a RedisBus, with what it logged and every `bus:status` it emitted. */
async function node(redisUrl: string) {
  const http: Server = createServer((_req, res) => res.end('app'));
  const logged: string[] = [];
  const log = (_fields: object, msg?: string) => void logged.push(msg ?? '');
  const tether = new TetherServer({
    server: http,
    bus: new RedisBus({ url: redisUrl, keyPrefix: `ready${Math.random().toString(36).slice(2, 8)}:` }),
    authorizeJoin: () => true,
    logger: { debug: log, info: log, warn: log, error: log },
  });
  const statuses: string[] = [];
  tether.on('bus:status', (status) => statuses.push(status));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const clients: TetherClient[] = [];
  cleanups.push(async () => {
    for (const client of clients) client.close();
    await tether.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  const client = () => {
    const c = new TetherClient(`http://127.0.0.1:${port}/tether`, {
      reconnect: { initialDelay: 50, maxDelay: 200 },
    });
    clients.push(c);
    return c;
  };
  return { tether, statuses, logged, client };
}

async function rejection(promise: Promise<unknown>): Promise<TetherError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: TetherError) => err,
  );
}

describe('tether.ready() and BUS_UNAVAILABLE on a RedisBus', () => {
  it('settles once Redis is reachable and reports the initial status', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const { tether, statuses, logged } = await node(redis.url);
    await tether.ready();
    await waitFor(() => statuses.length > 0, { timeout: 5_000, message: 'the initial bus:status' });
    expect(statuses).toEqual(['up']);
    expect(logged).toContain('bus is up');
  });

  it('rejects with BUS_UNAVAILABLE naming the cause when REDIS_URL points nowhere', async () => {
    const port = await freePort(); // nothing listens there
    const { tether, statuses, logged } = await node(`redis://127.0.0.1:${port}`);
    const err = await rejection(tether.ready({ timeoutMs: 500 }));
    expect(err.code).toBe('BUS_UNAVAILABLE');
    expect(err.message).toMatch(/not reachable within 500 ms/);
    await waitFor(() => statuses.length > 0, { timeout: 10_000, message: 'the initial bus:status' });
    expect(statuses[0]).toBe('down');
    expect(logged).toContain('bus is down');
  });

  it('answers a client join during a Redis outage with BUS_UNAVAILABLE, and works again after', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const { tether, statuses, logged, client: makeClient } = await node(redis.url);
    await tether.ready();
    const client = makeClient();
    await client.join('before');

    await redis.kill();
    // At once, before the bus noticed, and after: the same code either way.
    const early = await rejection(client.join('at-once'));
    expect(early.code).toBe('BUS_UNAVAILABLE');
    await waitFor(() => statuses.includes('down'), { timeout: 10_000, message: 'bus:status down' });
    expect(logged).toContain('bus went down');
    const refused = await rejection(client.join('during'));
    expect(refused.code).toBe('BUS_UNAVAILABLE');
    const notReady = await rejection(tether.ready({ timeoutMs: 200 }));
    expect(notReady.code).toBe('BUS_UNAVAILABLE');
    const published = await rejection(tether.to('during').emit('x', 1));
    expect(published.code).toBe('BUS_UNAVAILABLE');

    await redis.restart();
    await tether.ready({ timeoutMs: 15_000 });
    expect(statuses).toEqual(['up', 'down', 'up']);
    expect(logged).toContain('bus is up again');
    await waitFor(() => client.state === 'open', { timeout: 10_000, message: 'client open' });
    const room = await client.join('after');
    expect(room.name).toBe('after');
  });
});
