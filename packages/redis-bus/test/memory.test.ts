import { RedisServer, redisCli } from '@tether/test-utils';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis?.stop());

async function roomBytes(
  bus: RedisBus,
  room: string,
  messages: number,
  dataBytes: number,
  size: number,
): Promise<number> {
  const data = { text: 'x'.repeat(dataBytes - 11) }; // JSON of `data` is `dataBytes` long
  expect(JSON.stringify(data)).toHaveLength(dataBytes);
  for (let i = 0; i < messages; i++)
    await bus.publish({ room, event: 'chat:message', data, history: { size, ttlMs: 600_000 } });
  let total = 0;
  for (const key of [`mem:{${room}}:meta`, `mem:{${room}}:log`])
    total += Number((await redisCli(redis.port, ['memory', 'usage', key, 'samples', '0'])) || 0);
  return total;
}

// The figures in docs/redis-bus.md come from this test: TETHER_MEASURE=1 prints them.
it('keeps a room of 100 messages of 100-byte data in tens of kilobytes', async () => {
  const bus = new RedisBus({ url: redis.url, keyPrefix: 'mem:' });
  const results: Record<string, number> = {};
  results['1 message, 100 B'] = await roomBytes(bus, 'room-1', 1, 100, 100);
  results['100 messages, 100 B'] = await roomBytes(bus, 'room-100', 100, 100, 100);
  results['1000 messages, 100 B, size 1000'] = await roomBytes(bus, 'room-1000', 1000, 100, 1000);
  results['100 messages, 1000 B'] = await roomBytes(bus, 'room-100k', 100, 1000, 100);
  results['volatile only (meta)'] = 0;
  await bus.publish({ room: 'room-v', event: 'e', data: 1, history: false });
  results['volatile only (meta)'] = Number(
    await redisCli(redis.port, ['memory', 'usage', 'mem:{room-v}:meta', 'samples', '0']),
  );
  await bus.publish({ room: 'room-d', event: 'e', data: 1, history: false, id: 'evt-0123456789' });
  results['dedup marker'] = Number(
    await redisCli(redis.port, ['memory', 'usage', 'mem:{room-d}:dedup:evt-0123456789', 'samples', '0']),
  );
  for (let i = 0; i < 100; i++)
    await bus.addMember('room-p', 'node-abcdef', {
      connId: `node-abcdef.${i}`,
      data: { userId: `user-${i}` },
    });
  results['presence, 100 members'] = Number(
    await redisCli(redis.port, ['memory', 'usage', 'mem:{room-p}:presence', 'samples', '0']),
  );
  if (process.env.TETHER_MEASURE) console.log(results);
  expect(results['100 messages, 100 B']!).toBeLessThan(40_000);
  await bus.close();
});
