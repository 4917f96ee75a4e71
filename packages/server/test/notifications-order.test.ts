// `notify` order across nodes: a connection that opens on another node while the user's
// notifications are in flight for the first node (delivered there, not yet acknowledged) gets
// those first, then the newer ones; it does not wait `ackTimeoutMs` for them behind newer ones.
import { waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, MemoryInbox } from '../src/index.js';
import { startNode, type TestNode, waitForState } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('notification order across nodes', () => {
  it('a connection opening on another node gets the in-flight notifications before newer ones', async () => {
    const bus = new MemoryBus();
    const inbox = new MemoryInbox({ sweepIntervalMs: 20 });
    cleanups.push(() => inbox.close());
    const options = {
      bus,
      inbox,
      authenticate: (_req: unknown, auth: unknown) => auth as { userId: string },
      // No redelivery during the test: what arrives on B comes from B's first claim.
      notifications: { ackTimeoutMs: 60_000, offlineAfterMs: 60_000 },
    };
    const a: TestNode = await startNode(options);
    cleanups.push(() => a.close());
    const b: TestNode = await startNode(options);
    cleanups.push(() => b.close());

    // A tab on node A that receives but never finishes handling (so never acknowledges).
    const slow = a.client({ auth: { userId: 'u' } });
    cleanups.push(() => slow.close());
    const onA: number[] = [];
    slow.on('note', (d) => {
      onA.push(d as number);
      return new Promise(() => {});
    });
    await waitForState(slow, 'open');
    const user = a.tether.user('u');
    for (let i = 1; i <= 3; i++) await user.notify('note', i, { id: `note-${i}` });
    await waitFor(() => onA.length === 3, { message: 'A delivered 1 to 3' });

    // A second tab opens on node B, then a newer notification is stored.
    const fresh = b.client({ auth: { userId: 'u' } });
    cleanups.push(() => fresh.close());
    const onB: number[] = [];
    fresh.on('note', (d) => void onB.push(d as number));
    await waitForState(fresh, 'open');
    await user.notify('note', 4, { id: 'note-4' });
    await waitFor(() => onB.length === 4, { message: () => `B got ${JSON.stringify(onB)}` });
    expect(onB).toEqual([1, 2, 3, 4]);
    // B's tab acknowledged all four: nothing is left to deliver.
    await waitFor(async () => (await inbox.pending('u')).length === 0, { message: 'every ack' });
  });
});
