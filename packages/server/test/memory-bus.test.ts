import { MemoryBus } from '../src/memory-bus.js';
import { busContract } from './bus-contract.js';

busContract('MemoryBus', async () => ({ bus: new MemoryBus({ sweepIntervalMs: 50 }) }));
