/** What the sweep needs from a connection: when it last heard from the peer, and two actions. */
export interface HeartbeatTarget {
  /** When the last frame was received, as `sweep.elapsed` was then (kept coarse). */
  lastSeen: number;
  sendPing(): void;
  /** The peer is gone: drop it without a handshake. */
  expire(): void;
}

/** The coarse clock a sweep keeps, refreshed every tick. */
export interface CoarseClock {
  /** `Date.now()`, as of the last tick. */
  readonly now: number;
  /**
   * Milliseconds from the sweep's start to the last tick: what connections keep as `lastSeen`.
   * A small integer is stored in place in every connection, where an epoch timestamp (past 2^31)
   * would take a 16-byte box each; 2^31 ms is 24 days, and past that it is boxed but still right.
   */
  readonly elapsed: number;
}

/** The largest integer V8 stores in place (a Smi) on 64-bit builds without pointer compression. */
const SMALL_INTEGER_MAX = 2 ** 31 - 1;

export interface HeartbeatOptions {
  /** Ping every connection this often, in ms. */
  intervalMs: number;
  /** A connection silent for interval + timeout is dropped, in ms. */
  timeoutMs: number;
  /** Clock, replaceable in unit tests. */
  now?: () => number;
}

/**
 * One timer for every connection of a server (not one per connection): each tick it pings the
 * connections that are due and drops those that stayed silent past their deadline.
 * It also keeps a coarse clock (`now`, `elapsed`) so the message hot path never calls `Date.now()`.
 *
 * @example
 * const sweep = new HeartbeatSweep({ intervalMs: 25_000, timeoutMs: 20_000 });
 * sweep.add(conn); sweep.start(); // ... sweep.stop() on close
 */
export class HeartbeatSweep implements CoarseClock {
  readonly #targets = new Set<HeartbeatTarget>();
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #clock: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #nextPingAt = 0;
  readonly #origin: number;
  now: number;
  elapsed = 0;

  constructor(options: HeartbeatOptions) {
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.now ?? Date.now;
    this.now = this.#origin = this.#clock();
  }

  /** Tick length: fine enough that a deadline is missed by at most a quarter of the shorter period. */
  get tickMs(): number {
    return Math.max(5, Math.floor(Math.min(this.#intervalMs, this.#timeoutMs) / 4));
  }

  get size(): number {
    return this.#targets.size;
  }

  add(target: HeartbeatTarget): void {
    target.lastSeen = this.elapsed;
    this.#targets.add(target);
  }

  delete(target: HeartbeatTarget): void {
    this.#targets.delete(target);
  }

  start(): void {
    if (this.#timer) return;
    this.#advance();
    this.#nextPingAt = this.now + this.#intervalMs;
    this.#timer = setInterval(() => this.tick(), this.tickMs);
    // The sweep must not keep a process alive on its own; close() stops it anyway.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One sweep; public for unit tests with a fake clock. */
  tick(): void {
    const now = this.#advance();
    const deadline = this.elapsed - this.#intervalMs - this.#timeoutMs;
    const pingDue = now >= this.#nextPingAt;
    if (pingDue) this.#nextPingAt = now + this.#intervalMs;
    for (const target of this.#targets) {
      if (target.lastSeen <= deadline) {
        this.#targets.delete(target);
        target.expire();
      } else if (pingDue) {
        target.sendPing();
      }
    }
  }

  /** Reads the clock: `now` and `elapsed` as of this tick. */
  #advance(): number {
    this.now = this.#clock();
    const elapsed = this.now - this.#origin;
    // A difference of doubles is a double, boxed wherever it is stored: `| 0` makes it a small
    // integer (up to SMALL_INTEGER_MAX), which connections store unboxed.
    this.elapsed = elapsed <= SMALL_INTEGER_MAX ? elapsed | 0 : elapsed;
    return this.now;
  }
}
