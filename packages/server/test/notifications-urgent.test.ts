// An urgent durable notification overtakes the bulk traffic queued for a user's connection, over
// a real socket whose reader is stalled (the server's outgoing queue fills up), and the
// ordinary notifications behind it keep their `notify` order.
import { TetherClient } from '@tether/client';
import { waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryInbox } from '../src/index.js';
import { startNode, until } from './harness.js';
import { congest, stallProxy } from './slow-reader.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('urgent notifications', () => {
  it('go ahead of queued bulk notifications and events on a congested connection', async () => {
    const inbox = new MemoryInbox({ sweepIntervalMs: 20 });
    cleanups.push(() => inbox.close());
    const server = await startNode({
      maxBufferedBytes: 8 * 1024 * 1024,
      authenticate: () => ({ userId: 'u1' }),
      inbox,
      // No redelivery while the socket is stalled: what arrives is the first delivery.
      notifications: { ackTimeoutMs: 60_000, offlineAfterMs: 60_000 },
    });
    cleanups.push(() => server.close());
    const proxy = await stallProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = new TetherClient(proxy.url, { reconnect: false });
    cleanups.push(() => client.close());
    const seen: string[] = [];
    client.on('bulk', (d) => void seen.push(`bulk:${d}`));
    client.on('alert', (d) => void seen.push(`alert:${d}`));
    await until(() => client.state === 'open', 5_000, 'open');
    const conn = server.tether.connections.get(client.connectionId!)!;

    proxy.stall();
    await congest(conn);
    const user = server.tether.user('u1');
    // Sent means claimed: every delivery counted one attempt.
    const sent = async (count: number) =>
      waitFor(async () => (await inbox.pending('u1')).filter((n) => n.attempts === 1).length === count, {
        message: `${count} sent`,
      });
    for (let i = 0; i < 20; i++) await user.notify('bulk', i, { id: `bulk-${i}` });
    await sent(20);
    await user.notify('alert', 'fire', { id: 'alert', urgent: true });
    await sent(21);
    proxy.release();
    await until(() => seen.length === 21, 10_000, 'every notification');
    expect(seen).toEqual(['alert:fire', ...Array.from({ length: 20 }, (_, i) => `bulk:${i}`)]);
    await waitFor(async () => (await inbox.pending('u1')).length === 0, { message: 'every ack' });
  });
});
