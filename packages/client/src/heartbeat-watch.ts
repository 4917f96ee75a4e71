/**
 * Watches the server's traffic: when nothing arrived for the welcome's `hb` interval + timeout,
 * the server is gone (half-open TCP, a frozen node) and `onMissed` runs. One timer, re-armed for
 * the time left instead of on every frame, so a busy connection costs one clock read per frame.
 *
 * @example
 * const watch = new HeartbeatWatch(() => drop());
 * watch.start(45_000);
 * watch.lastSeen = Date.now(); // on every frame
 * watch.stop();
 */
export class HeartbeatWatch {
  /** When the last frame arrived (ms since the epoch); the connection writes it. */
  lastSeen = 0;
  #deadline = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onMissed: () => void;

  constructor(onMissed: () => void) {
    this.#onMissed = onMissed;
  }

  /** Starts watching: silence longer than `deadline` ms counts as a missed heartbeat. */
  start(deadline: number): void {
    this.#deadline = deadline;
    this.lastSeen = Date.now();
    this.#arm(deadline);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const silentFor = Date.now() - this.lastSeen;
      if (silentFor < this.#deadline) this.#arm(this.#deadline - silentFor);
      else this.#onMissed();
    }, delay);
  }
}
