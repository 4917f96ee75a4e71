import { multiNodeDelivery } from '@tether/test-utils/suites';
import { MemoryBus } from '../src/index.js';
import { kit } from './harness.js';

multiNodeDelivery('MemoryBus', kit, async () => {
  const bus = new MemoryBus();
  return { bus, cleanup: () => bus.close() };
});
