import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExpirySchedule, type ExpiryTarget } from './expiry-schedule.js';

afterEach(() => {
  vi.useRealTimers();
});

function target(dueAt: number, log: string[], name: string): ExpiryTarget {
  return { dueAt, due: (now) => void log.push(`${name}@${now}`) };
}

describe('ExpirySchedule', () => {
  it('runs entries at or after their time, never before, in slot order; one timer for all', () => {
    vi.useFakeTimers({ now: 10_000 });
    const log: string[] = [];
    const schedule = new ExpirySchedule();
    schedule.add(target(10_250, log, 'b'));
    schedule.add(target(10_120, log, 'a'));
    schedule.add(target(12_000, log, 'c'));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(log).toEqual(['a@10200']);
    vi.advanceTimersByTime(100);
    expect(log).toEqual(['a@10200', 'b@10300']);
    vi.advanceTimersByTime(2_000);
    expect(log).toEqual(['a@10200', 'b@10300', 'c@12000']);
    // Nothing left: the timer is gone.
    expect(schedule.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moves and deletes entries, and stops on stop()', () => {
    vi.useFakeTimers({ now: 0 });
    const log: string[] = [];
    const schedule = new ExpirySchedule();
    const a = target(100, log, 'a');
    const b = target(100, log, 'b');
    schedule.add(a);
    schedule.add(b);
    schedule.delete(a);
    b.dueAt = 500;
    schedule.add(b);
    vi.advanceTimersByTime(300);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(log).toEqual(['b@500']);
    schedule.add(target(10_000, log, 'c'));
    schedule.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an entry may schedule itself again from its own call', () => {
    vi.useFakeTimers({ now: 0 });
    const schedule = new ExpirySchedule();
    const calls: number[] = [];
    const entry: ExpiryTarget = {
      dueAt: 100,
      due(now) {
        calls.push(now);
        if (calls.length < 3) {
          entry.dueAt = now + 100;
          schedule.add(entry);
        }
      },
    };
    schedule.add(entry);
    vi.advanceTimersByTime(1_000);
    expect(calls).toEqual([100, 200, 300]);
  });
});
