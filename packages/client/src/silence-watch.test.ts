import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SilenceWatch } from './silence-watch.js';

// Pure timing logic: fake timers stand for a page whose timers were throttled or frozen.
describe('SilenceWatch.check (page came back)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drops a connection silent past the deadline at once, even though its timer has not run', () => {
    const onSilent = vi.fn();
    const watch = new SilenceWatch(onSilent);
    watch.seen();
    watch.start(1_000);
    // The clock moved on while the timer did not run (a frozen page): only the clock jumps.
    vi.setSystemTime(Date.now() + 5_000);
    watch.check();
    expect(onSilent).toHaveBeenCalledTimes(1);
    vi.runAllTimers(); // the watch stopped: its timer does not report the same silence again
    expect(onSilent).toHaveBeenCalledTimes(1);
  });

  it('leaves a connection that heard from the server within the deadline alone', () => {
    const onSilent = vi.fn();
    const watch = new SilenceWatch(onSilent);
    watch.seen();
    watch.start(1_000);
    vi.setSystemTime(Date.now() + 500);
    watch.check();
    expect(onSilent).not.toHaveBeenCalled();
  });

  it('drops when told the socket is dead (back-forward cache), and never when not watching', () => {
    const onSilent = vi.fn();
    const watch = new SilenceWatch(onSilent);
    watch.check(true);
    expect(onSilent).not.toHaveBeenCalled();
    watch.seen();
    watch.start(1_000);
    watch.check(true);
    expect(onSilent).toHaveBeenCalledTimes(1);
  });
});
