import { liveChildCount } from './child-reaper.js';
import { delay } from './wait.js';

// Kinds of libuv resources a test creates by opening sockets, servers, children and timers.
const WATCHED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'PipeWrap', 'ProcessWrap', 'Timeout']);

function countHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  // Started servers are unreferenced, so they are missing from the list above.
  counts.set('child process', liveChildCount());
  return counts;
}

/**
 * What {@link trackHandles} returns.
 *
 * @example
 * ```ts
 * const handles: HandleTracker = trackHandles();
 * await handles.check(2000);
 * ```
 */
export interface HandleTracker {
  /**
   * Resolves once no more sockets, servers, child processes or timers are open than at the
   * snapshot; rejects after `timeout` ms listing the extra ones.
   */
  check(timeout?: number): Promise<void>;
}

/**
 * Takes a snapshot of the process's open handles so a suite can prove it closed everything it
 * opened. Closing is asynchronous, so `check` waits a little before calling something a leak.
 *
 * @example
 * ```ts
 * let handles: HandleTracker;
 * beforeAll(() => { handles = trackHandles(); });
 * afterAll(() => handles.check());
 * ```
 */
export function trackHandles(): HandleTracker {
  const baseline = countHandles();
  const extra = (): string[] => {
    const result: string[] = [];
    for (const [kind, count] of countHandles()) {
      const more = count - (baseline.get(kind) ?? 0);
      if (more > 0) result.push(`${more} ${kind}`);
    }
    return result;
  };
  return {
    async check(timeout = 1000) {
      const deadline = Date.now() + timeout;
      // `delay` adds a Timeout of its own while it waits; it is gone by the time we count.
      while (extra().length > 0 && Date.now() < deadline) await delay(10);
      const left = extra();
      if (left.length > 0) throw new Error(`handles left open: ${left.join(', ')}`);
    },
  };
}
