/**
 * A token bucket: holds at most `capacity` tokens, gains `perSecond` of them per second, and
 * each admitted message takes one. Time is passed in (no timers, no clock of its own), so the
 * caller decides how precise it needs to be; time that goes backwards is ignored.
 *
 * @example
 * const bucket = new TokenBucket({ capacity: 200, perSecond: 100, initial: 200, now: Date.now() });
 * if (!bucket.take(Date.now())) refuse();
 */
export class TokenBucket {
  readonly capacity: number;
  readonly perSecond: number;
  #tokens: number;
  #last: number;

  constructor(init: { capacity: number; perSecond: number; initial?: number; now: number }) {
    this.capacity = init.capacity;
    this.perSecond = init.perSecond;
    // A start above capacity is allowed: a fresh connection may need one larger burst (reconnect flush).
    this.#tokens = init.initial ?? init.capacity;
    this.#last = init.now;
  }

  /** Tokens left after refilling up to `now` (fractional). */
  tokensAt(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Takes one token if there is one at `now`; false (and nothing taken) otherwise. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(now: number): void {
    if (now <= this.#last) return;
    const gained = ((now - this.#last) * this.perSecond) / 1_000;
    // Tokens above capacity (the initial allowance) are kept, never topped up.
    if (this.#tokens < this.capacity) this.#tokens = Math.min(this.capacity, this.#tokens + gained);
    this.#last = now;
  }
}
