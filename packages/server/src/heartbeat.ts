/** What the sweep needs from a connection: when it last heard from the peer, and two actions. */
export interface HeartbeatTarget {
  /** `Date.now()`-scale time of the last frame received (kept coarse: set from `sweep.now`). */
  lastSeen: number;
  sendPing(): void;
  /** The peer is gone: drop it without a handshake. */
  expire(): void;
}

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
 * It also keeps a coarse clock (`now`) so the message hot path never calls `Date.now()`.
 *
 * @example
 * const sweep = new HeartbeatSweep({ intervalMs: 25_000, timeoutMs: 20_000 });
 * sweep.add(conn); sweep.start(); // ... sweep.stop() on close
 */
export class HeartbeatSweep {
  readonly #targets = new Set<HeartbeatTarget>();
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #clock: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #nextPingAt = 0;
  /** Coarse current time, refreshed every tick. */
  now: number;

  constructor(options: HeartbeatOptions) {
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.now ?? Date.now;
    this.now = this.#clock();
  }

  /** Tick length: fine enough that a deadline is missed by at most a quarter of the shorter period. */
  get tickMs(): number {
    return Math.max(5, Math.floor(Math.min(this.#intervalMs, this.#timeoutMs) / 4));
  }

  get size(): number {
    return this.#targets.size;
  }

  add(target: HeartbeatTarget): void {
    target.lastSeen = this.now;
    this.#targets.add(target);
  }

  delete(target: HeartbeatTarget): void {
    this.#targets.delete(target);
  }

  start(): void {
    if (this.#timer) return;
    this.now = this.#clock();
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
    const now = (this.now = this.#clock());
    const deadline = now - this.#intervalMs - this.#timeoutMs;
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
}
