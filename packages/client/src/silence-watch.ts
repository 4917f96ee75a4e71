/**
 * The client's side of the heartbeat: the server sends something (at least a `ping`) every
 * interval, so a connection silent for longer than the deadline is gone (half-open TCP, a frozen
 * node) and `onSilent` runs. One timer, re-armed for the time left when it fires, rather than
 * reset on every frame: a frame only notes the time.
 *
 * @example
 * const silence = new SilenceWatch(() => drop(4008, 'server heartbeat missed'));
 * silence.start(hb[0] + hb[1]); // on welcome
 * silence.seen();               // on every frame
 * silence.stop();               // when the connection ends
 */
export class SilenceWatch {
  readonly #onSilent: () => void;
  #lastSeen = 0;
  #deadlineMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(onSilent: () => void) {
    this.#onSilent = onSilent;
  }

  /** A frame arrived. */
  seen(): void {
    this.#lastSeen = Date.now();
  }

  /** Starts watching a new connection: silence past `deadlineMs` counts as gone. */
  start(deadlineMs: number): void {
    this.stop();
    this.#deadlineMs = deadlineMs;
    this.#arm(deadlineMs);
  }

  /**
   * The page came back (visible, resumed, restored from the back-forward cache), when throttled
   * or frozen timers may not have fired: a watched connection that is `dead` or was silent past
   * the deadline is gone now.
   */
  check(dead?: boolean): void {
    if (this.#timer !== undefined && (dead || Date.now() - this.#lastSeen >= this.#deadlineMs)) {
      this.stop();
      this.#onSilent();
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      const silentFor = Date.now() - this.#lastSeen;
      if (silentFor < this.#deadlineMs) this.#arm(this.#deadlineMs - silentFor);
      else this.#onSilent();
    }, delay);
  }
}
