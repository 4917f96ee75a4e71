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

  it('keeps many outcomes of one session (past its short list) in order, each released once', () => {
    vi.useFakeTimers({ now: 0 });
    const store = new LocalOutcomeStore();
    for (let i = 0; i < 12; i++) store.save('s', `${i}`, { ok: true, data: i }, 100 + i * 10);
    store.save('s', '3', { ok: true, data: 'again' }, 100 + 3 * 10); // replaced in its place
    expect(store.size).toBe(12);
    store.release('s', '0');
    store.release('s', '0');
    store.release('s', '7');
    expect(store.size).toBe(10);
    expect(store.load('s', '3')).toEqual({ ok: true, data: 'again' });
    expect(store.load('s', '7')).toBeUndefined();
    store.sweep(145);
    expect(store.size).toBe(6);
    expect(store.load('s', '4')).toBeUndefined();
    expect(store.load('s', '5')).toEqual({ ok: true, data: 5 });
    store.sweep(10_000);
    expect(store.size).toBe(0);
  });

  it('releases a short list entry from its middle and keeps the order of the rest', () => {
    vi.useFakeTimers({ now: 0 });
    const store = new LocalOutcomeStore();
    for (let i = 0; i < 4; i++) store.save('s', `${i}`, { ok: true, data: i }, 100 + i * 10);
    store.release('s', '1');
    store.sweep(125);
    expect(store.size).toBe(1);
    expect(store.load('s', '3')).toEqual({ ok: true, data: 3 });
  });
});
