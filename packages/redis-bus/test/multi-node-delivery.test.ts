import { RedisServer } from '@tether/test-utils';
import { afterAll, beforeAll } from 'vitest';
import { multiNodeDelivery } from '../../server/test/multi-node-delivery.js';
import { RedisBus } from '../src/index.js';

// The same cross-node delivery tests as on MemoryBus, with each node on its own RedisBus
// instance, the way separate processes would be.
let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

multiNodeDelivery('RedisBus', async () => {
  const bus = new RedisBus({ url: redis.url });
  return { bus, cleanup: () => bus.close() };
});
