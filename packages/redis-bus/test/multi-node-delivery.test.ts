import { RedisServer } from '@tether/test-utils';
import { multiNodeDelivery } from '@tether/test-utils/suites';
import { afterAll, beforeAll } from 'vitest';
import { RedisBus } from '../src/index.js';
import { kit } from './kit.js';

// The same cross-node delivery tests as on MemoryBus, with each node on its own RedisBus
// instance, the way separate processes would be.
let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

multiNodeDelivery('RedisBus', kit, async () => {
  const bus = new RedisBus({ url: redis.url });
  return { bus, cleanup: () => bus.close() };
});
