import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalOutcomeStore, PENDING } from './outcome-store.js';

describe('LocalOutcomeStore', () => {
  afterEach(() => vi.useRealTimers());

  it('claims a key once, then answers the saved outcome', () => {
    const store = new LocalOutcomeStore();
    expect(store.claim('s', '1', 1_000)).toBe(true);
    expect(store.claim('s', '1', 1_000)).toBe(false);
    expect(store.load('s', '1')).toBe(PENDING);
    store.save('s', '1', { ok: true, data: 42 }, 1_000);
    expect(store.load('s', '1')).toEqual({ ok: true, data: 42 });
    expect(store.claim('s', '1', 1_000)).toBe(false);
  });

  it('forgets an outcome when it expires, and a released one at once', () => {
    vi.useFakeTimers({ now: 0 });
    const store = new LocalOutcomeStore();
    store.save('s', '1', { ok: true, data: 1 }, 100);
    store.save('s', '2', { ok: false, code: 'E', message: 'no' }, 1_000);
    vi.setSystemTime(100);
    expect(store.load('s', '1')).toBeUndefined();
    expect(store.load('s', '2')).toEqual({ ok: false, code: 'E', message: 'no' });
    store.release('s', '2');
    expect(store.load('s', '2')).toBeUndefined();
    expect(store.claim('s', '2', 1_000)).toBe(true);
  });

  it('sweeps expired entries from the front and keeps live ones', () => {
    vi.useFakeTimers({ now: 0 });
    const store = new LocalOutcomeStore();
    for (let i = 0; i < 10; i++) store.save('s', `${i}`, { ok: true, data: i }, 100 + i * 10);
    store.sweep(145);
    expect(store.size).toBe(5);
    expect(store.load('s', '5')).toEqual({ ok: true, data: 5 });
    store.sweep(10_000);
    expect(store.size).toBe(0);
  });
});
