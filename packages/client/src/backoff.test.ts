import { describe, expect, it } from 'vitest';
import { backoffDelay, resolveBackoff } from './backoff.js';

describe('backoff schedule', () => {
  const defaults = resolveBackoff();

  it('uses the documented defaults: 1 s initial, factor 2, 30 s max, jitter 0.5', () => {
    expect(defaults).toEqual({
      initialDelay: 1_000,
      maxDelay: 30_000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Number.POSITIVE_INFINITY,
    });
  });

  it('grows exponentially up to the cap when jitter takes nothing', () => {
    const delays = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, defaults, () => 0));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('takes away at most `jitter` of the delay', () => {
    expect(backoffDelay(2, defaults, () => 0.999999)).toBe(2_000);
    expect(backoffDelay(2, defaults, () => 0.5)).toBe(3_000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, defaults);
      expect(d).toBeGreaterThanOrEqual(4_000);
      expect(d).toBeLessThanOrEqual(8_000);
    }
  });

  it('clamps jitter to [0, 1] and honours custom settings', () => {
    const custom = resolveBackoff({ initialDelay: 100, maxDelay: 250, factor: 3, jitter: 7 });
    expect(custom.jitter).toBe(1);
    expect([0, 1, 2].map((a) => backoffDelay(a, custom, () => 0))).toEqual([100, 250, 250]);
    expect(backoffDelay(0, custom, () => 0.5)).toBe(50);
  });
});
