import { MemoryBus } from '../src/index.js';
import { multiNodeDelivery } from './multi-node-delivery.js';

multiNodeDelivery('MemoryBus', async () => {
  const bus = new MemoryBus();
  return { bus, cleanup: () => bus.close() };
});
