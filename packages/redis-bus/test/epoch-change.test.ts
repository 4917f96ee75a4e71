import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { TetherServer } from '@tether/server';
import { RedisServer, redisCli, TcpProxy, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
});

// Broadcast frames leave the room's epoch out while it stays the same; a client must still learn
// of a new one, or it would take the new lineage's low offsets for duplicates and resume from a
// position that no longer exists.
describe('a room whose history starts over (Redis lost its data)', () => {
  it('tells the client the new epoch: every message once, in order, and a later cut recovers in it', async () => {
    const redis = await RedisServer.start();
    cleanups.push(() => redis.stop());
    const http: Server = createServer((_req, res) => res.end('app'));
    const tether = new TetherServer({
      server: http,
      bus: new RedisBus({ url: redis.url, keyPrefix: 'epoch:' }),
      authorizeJoin: () => true,
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await tether.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    const proxy = await TcpProxy.start({
      target: { host: '127.0.0.1', port: (http.address() as AddressInfo).port },
    });
    cleanups.push(() => proxy.close());
    const client = new TetherClient(proxy.url('/tether'), {
      transports: ['websocket'],
      reconnect: { initialDelay: 20, maxDelay: 100 },
    });
    cleanups.push(() => client.close());

    const room = await client.join('feed');
    const got: Array<{ n: number; epoch: string; offset: number }> = [];
    room.on('n', (data, meta) => got.push({ n: data as number, epoch: meta.epoch, offset: meta.offset }));
    for (let n = 1; n <= 3; n++) await tether.to('feed').emit('n', n);
    await waitFor(() => got.length === 3, { timeout: 3_000, message: 'first lineage' });

    await redisCli(redis.port, ['flushall']);
    for (let n = 4; n <= 6; n++) await tether.to('feed').emit('n', n);
    await waitFor(() => got.length === 6, { timeout: 3_000, message: 'new lineage, offsets from 1 again' });
    const [first, second] = [got[0]!.epoch, got[5]!.epoch];
    expect(second).not.toBe(first);
    expect(got.slice(3).map((m) => [m.epoch, m.offset])).toEqual([
      [second, 1],
      [second, 2],
      [second, 3],
    ]);

    proxy.pause(); // a cut while the room goes on: the rejoin resumes in the new epoch
    await waitFor(() => client.state === 'reconnecting', { timeout: 3_000 });
    for (let n = 7; n <= 8; n++) await tether.to('feed').emit('n', n);
    proxy.resume();
    await waitFor(() => got.length === 8, { timeout: 5_000, message: 'messages missed during the cut' });
    expect(got.map((m) => m.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(room.recovered).toBe(true);
  });
});
