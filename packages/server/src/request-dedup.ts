import type { Bus } from './bus.js';
import type { Logger } from './options.js';

/** How a request ended: the reply, or an error reply. Stored so a retry gets the same answer. */
export type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

const PENDING = 'pending';

/**
 * Runs a request's handler once per key (session + message id) within a window, across every
 * node of the bus. A retry whose first run finished gets the stored outcome; one that arrives
 * while the first run is in progress waits for it (locally through the shared promise, on
 * another node by polling the store).
 *
 * @example
 * const outcome = await dedup.run(`${conn.sessionId}:${msg.id}`, () => runHandler(msg));
 */
export class RequestDedup {
  readonly #bus: Bus;
  readonly #windowMs: number;
  readonly #pendingTtlMs: number;
  readonly #logger: Logger;
  readonly #inFlight = new Map<string, Promise<Outcome>>();

  constructor(bus: Bus, options: { windowMs: number; pendingTtlMs?: number; logger: Logger }) {
    this.#bus = bus;
    this.#windowMs = options.windowMs;
    // A node that crashes mid-handler leaves "pending" behind; it lapses after this long.
    this.#pendingTtlMs = options.pendingTtlMs ?? Math.min(options.windowMs, 60_000);
    this.#logger = options.logger;
  }

  /**
   * Runs `execute` unless this key already ran; `onDuplicate` tells the caller it was a repeat.
   * `resent`: the client marked this send as a retry or a resend after a reconnect. Only those can
   * meet an earlier run, so a first send marks its claim in the store without waiting for it and
   * runs at once; a resend checks the store (and waits for a run in progress) first.
   */
  run(
    key: string,
    execute: () => Promise<Outcome>,
    onDuplicate: () => void,
    resent = true,
  ): Promise<Outcome> {
    const local = this.#inFlight.get(key);
    if (local) {
      onDuplicate();
      return local;
    }
    const outcome = (
      resent ? this.#claimAndRun(key, execute, onDuplicate) : this.#runFirst(key, execute)
    ).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, outcome);
    return outcome;
  }

  async #runFirst(key: string, execute: () => Promise<Outcome>): Promise<Outcome> {
    const storeKey = `req:${key}`;
    // A resend can only come after this send was lost or timed out, long after this write landed.
    this.#bus
      .set(storeKey, PENDING, this.#pendingTtlMs, { ifAbsent: true })
      .catch((err) =>
        this.#logger.warn(
          { err, key },
          'dedup store unavailable; running the handler without cross-node dedup',
        ),
      );
    const outcome = await execute();
    this.#store(storeKey, outcome);
    return outcome;
  }

  #store(storeKey: string, outcome: Outcome): void {
    this.#bus
      .set(storeKey, JSON.stringify(outcome), this.#windowMs)
      .catch((err) => this.#logger.warn({ err, key: storeKey }, 'could not store a request outcome'));
  }

  async #claimAndRun(
    key: string,
    execute: () => Promise<Outcome>,
    onDuplicate: () => void,
  ): Promise<Outcome> {
    const storeKey = `req:${key}`;
    let claimed: boolean;
    try {
      claimed = await this.#bus.set(storeKey, PENDING, this.#pendingTtlMs, { ifAbsent: true });
    } catch (err) {
      // Without the store, running the handler (at-least-once) beats refusing the user's request.
      this.#logger.warn(
        { err, key },
        'dedup store unavailable; running the handler without cross-node dedup',
      );
      return execute();
    }
    if (!claimed) {
      onDuplicate();
      return this.#awaitStored(storeKey);
    }
    const outcome = await execute();
    this.#store(storeKey, outcome);
    return outcome;
  }

  async #awaitStored(storeKey: string): Promise<Outcome> {
    const deadline = Date.now() + this.#pendingTtlMs;
    let wait = 10;
    while (Date.now() < deadline) {
      const stored = await this.#bus.get(storeKey).catch(() => undefined);
      if (stored === undefined) break;
      if (stored !== PENDING) return JSON.parse(stored) as Outcome;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 250);
    }
    return { ok: false, code: 'TIMEOUT', message: 'the first attempt of this request did not finish' };
  }
}
