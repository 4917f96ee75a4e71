import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InboxClaim, InboxClaimOptions } from './inbox.js';
import { MemoryInbox } from './memory-inbox.js';
import { NotificationDelivery, type UndeliveredNotification } from './notification-delivery.js';
import { resolveNotificationOptions } from './notification-options.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

afterEach(() => {
  vi.useRealTimers();
});

/** A MemoryInbox that counts how many claims run at once. */
class CountingInbox extends MemoryInbox {
  active = 0;
  mostAtOnce = 0;
  override async claim(userId: string, options: InboxClaimOptions): Promise<InboxClaim> {
    this.active++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.active);
    try {
      await new Promise<void>((resolve) => setTimeout(resolve, 5)); // a store round trip
      return await super.claim(userId, options);
    } finally {
      this.active--;
    }
  }
}

/** The sweep's timing alone: fake timers, a real MemoryInbox, deliveries recorded instead of sent. */
async function setUp() {
  vi.useFakeTimers();
  const inbox = new CountingInbox({ sweepIntervalMs: 1_000 });
  const rounds: string[][] = [];
  const dead: UndeliveredNotification[] = [];
  const state = { serving: true };
  const delivery = new NotificationDelivery({
    inbox,
    options: resolveNotificationOptions({ maxAttempts: 3, ackTimeoutMs: 100, offlineAfterMs: 60_000 }),
    logger: silent,
    claimer: 'node-1',
    resendStarted: () => () => {},
    serves: () => state.serving,
    users: () => (state.serving ? ['u'] : []),
    deliver: async (_user, notes) => void rounds.push(notes.map((n) => n.id)),
    undelivered: (message) => void dead.push(message),
    offline: () => {},
    wantsOffline: () => false,
  });
  await vi.advanceTimersByTimeAsync(0); // the subscription
  return { inbox, rounds, dead, state, delivery };
}

describe('NotificationDelivery', () => {
  it('delivers on store, again every ackTimeoutMs from the one sweep, then reports one dead letter', async () => {
    const { inbox, rounds, dead, delivery } = await setUp();
    await inbox.notify('u', 'e', 1, { id: 'a' });
    await vi.advanceTimersByTimeAsync(10);
    expect(rounds).toEqual([['a']]);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(rounds).toEqual([['a'], ['a'], ['a']]);
    expect(dead).toEqual([expect.objectContaining({ reason: 'dead-letter', id: 'a', attempts: 3 })]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rounds).toHaveLength(3);
    expect(dead).toHaveLength(1);
    await delivery.close();
    await inbox.close();
  });

  it('claims nothing for a user this node does not serve, and stops retrying once the user left', async () => {
    const { inbox, rounds, state, delivery } = await setUp();
    state.serving = false;
    await inbox.notify('u', 'e', 1, { id: 'a' });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(rounds).toEqual([]);
    state.serving = true;
    delivery.wake('u'); // a connection of the user opened
    await vi.advanceTimersByTimeAsync(10);
    expect(rounds).toEqual([['a']]);
    state.serving = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rounds).toEqual([['a']]);
    expect(await inbox.pending('u')).toHaveLength(1); // kept for the user's next connection
    await delivery.close();
    await inbox.close();
  });

  it('never runs two claims of one user at once: a wakeup during a claim claims once more after it', async () => {
    const { inbox, rounds, delivery } = await setUp();
    await inbox.notify('u', 'e', 1, { id: 'a' });
    await inbox.notify('u', 'e', 2, { id: 'b' }); // woken while the first claim runs
    await vi.advanceTimersByTimeAsync(50);
    expect(rounds.flat()).toEqual(['a', 'b']);
    expect(inbox.mostAtOnce).toBe(1);
    await delivery.close();
    await inbox.close();
  });
});
