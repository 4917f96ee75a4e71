import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryInbox } from './memory-inbox.js';

describe('MemoryInbox timers and memory', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('owns one sweep timer while subscribed and clears it on unsubscribe and close', async () => {
    vi.useFakeTimers();
    const inbox = new MemoryInbox({ sweepIntervalMs: 100 });
    expect(vi.getTimerCount()).toBe(0);
    const a = await inbox.subscribe({ onStored: () => undefined });
    const b = await inbox.subscribe({ onStored: () => undefined });
    expect(vi.getTimerCount()).toBe(1);
    await a.unsubscribe();
    expect(vi.getTimerCount()).toBe(1);
    await b.unsubscribe();
    expect(vi.getTimerCount()).toBe(0);
    await inbox.subscribe({ onStored: () => undefined });
    await inbox.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('frees expired notifications, old dead letters and remembered ids', async () => {
    vi.useFakeTimers();
    let now = 1_000_000;
    const expired: string[] = [];
    const inbox = new MemoryInbox({
      sweepIntervalMs: 100,
      dedupWindowMs: 1000,
      deadLetterTtlMs: 2000,
      now: () => now,
    });
    await inbox.subscribe({
      onStored: () => undefined,
      onExpired: (notes) => expired.push(...notes.map((n) => n.id)),
    });
    await inbox.notify('u0', 'e', 0, { id: 'acked' });
    await inbox.ack('u0', ['acked']);
    await inbox.notify('dead-user', 'e', 0, { id: 'dead', ttlMs: 10_000 });
    await inbox.claim('dead-user', { maxAttempts: 1, retryAfterMs: 0 });
    await inbox.claim('dead-user', { maxAttempts: 1, retryAfterMs: 0 });
    expect(inbox.size).toEqual({ pending: 0, deadLetters: 1, remembered: 1 });
    for (let i = 0; i < 50; i += 1) await inbox.notify(`u${i % 5}`, 'e', i, { id: `m${i}`, ttlMs: 500 });
    expect(inbox.size.pending).toBe(50);
    now += 600;
    vi.advanceTimersByTime(100);
    expect(expired).toHaveLength(50);
    expect(inbox.size).toEqual({ pending: 0, deadLetters: 1, remembered: 51 });
    now += 3000;
    vi.advanceTimersByTime(100);
    expect(inbox.size).toEqual({ pending: 0, deadLetters: 0, remembered: 0 });
    await inbox.close();
  });
});
