import { busContract } from '@tether/test-utils/suites';
import { MemoryBus } from '../src/memory-bus.js';

busContract('MemoryBus', async () => ({ bus: new MemoryBus({ sweepIntervalMs: 50 }) }));
