import { ErrorCode, TetherError } from '@tether/protocol';
import type { Emitter } from './emitter.js';

/** What the server sends at the first message it refused in a rate-limit episode. */
export interface RateLimitedInfo {
  /** Why (connection or user limit). */
  m: string;
  /** How long, in ms, until the server takes messages again. */
  ms: number;
}

/**
 * The client's side of the server's rate limit. At the first message the server refuses in an
 * episode it sends `tether:rate-limited` (events would otherwise be dropped without a word):
 * the client reports an `error` with code RATE_LIMITED, and for the time the server named,
 * `emit` drops instead of sending and returns false. Requests go on and are answered by the
 * server (RATE_LIMITED replies reject them).
 *
 * @example
 * const limit = new RateLimitNotice(events, (err) => report(err));
 * if (limit.active) return false; // in emit
 */
export class RateLimitNotice {
  #until = 0;

  constructor(events: Emitter<Record<string, unknown[]>>, report: (err: TetherError) => void) {
    events.on('tether:rate-limited', (info) => {
      // From the client's own server (trusted, like every frame it reads); a missing `ms` counts as 1 s.
      const { m, ms } = info as RateLimitedInfo;
      this.#until = Date.now() + (ms > 0 ? ms : 1_000);
      report(new TetherError(ErrorCode.RateLimited, `rate limited by the server: ${m}`));
    });
  }

  /** True while the server said it refuses messages. */
  get active(): boolean {
    return Date.now() < this.#until;
  }
}
