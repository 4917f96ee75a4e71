import { inboxContract } from '@tether/test-utils';
import { MemoryInbox } from '../src/memory-inbox.js';

inboxContract('MemoryInbox', async () => {
  // Several nodes in one process share one MemoryInbox, so every open() returns the same one.
  const inbox = new MemoryInbox({ sweepIntervalMs: 20, dedupWindowMs: 60_000 });
  return { open: async () => inbox, durable: false };
});
