import type { Logger } from '@tether/protocol';
import { type Outcome, type OutcomeStore, PENDING } from './outcome-store.js';

export type { Outcome } from './outcome-store.js';

/**
 * Runs a request's handler once per (session, request id) within a window, across every node
 * that shares the outcome store. A retry whose first run finished gets the stored outcome; one
 * that arrives while the first run is in progress waits for it (locally through the shared
 * promise, on another node by polling the store).
 *
 * A handler that answers synchronously is answered synchronously: no promise, no claim.
 *
 * @example
 * const outcome = await dedup.run(conn.sessionId, msg.id, () => runHandler(msg), onRepeat, false);
 */
export class RequestDedup {
  readonly #store: OutcomeStore;
  readonly #windowMs: number;
  readonly #pendingTtlMs: number;
  readonly #logger: Logger;
  /** Runs still going in this process, by `session:id`. */
  readonly #inFlight = new Map<string, Promise<Outcome>>();

  constructor(store: OutcomeStore, options: { windowMs: number; pendingTtlMs?: number; logger: Logger }) {
    this.#store = store;
    this.#windowMs = options.windowMs;
    // A node that crashes mid-handler leaves "pending" behind; it lapses after this long.
    this.#pendingTtlMs = options.pendingTtlMs ?? Math.min(options.windowMs, 60_000);
    this.#logger = options.logger;
  }

  /**
   * Runs `execute` unless this request already ran; `onDuplicate` tells the caller it was a
   * repeat. `resent`: the client marked this send as a retry or a resend after a reconnect. Only
   * those can meet an earlier run, so a first send runs at once and marks its claim without
   * waiting for it (none at all when the handler answers synchronously: its outcome is saved
   * before any resend can exist); a resend checks the store (and waits for a run in progress)
   * first.
   */
  run(
    sessionId: string,
    requestId: string,
    execute: () => Outcome | Promise<Outcome>,
    onDuplicate: () => void,
    resent = true,
  ): Outcome | Promise<Outcome> {
    if (this.#inFlight.size > 0) {
      const local = this.#inFlight.get(`${sessionId}:${requestId}`);
      if (local) {
        onDuplicate();
        return local;
      }
    }
    if (resent) {
      return this.#track(sessionId, requestId, this.#claimAndRun(sessionId, requestId, execute, onDuplicate));
    }
    return this.first(sessionId, requestId, execute());
  }

  /**
   * True when a run is under way in this process: then only `run` may be used, as a request
   * might repeat one of them.
   */
  get busy(): boolean {
    return this.#inFlight.size > 0;
  }

  /**
   * What `run` does with a first send (not `resent`) when nothing is `busy`, for a caller that
   * ran the handler itself (no closure per request): `result` is its outcome, or the promise of it.
   */
  first(
    sessionId: string,
    requestId: string,
    result: Outcome | Promise<Outcome>,
  ): Outcome | Promise<Outcome> {
    if (!(result instanceof Promise)) {
      this.#save(sessionId, requestId, result);
      return result;
    }
    this.#claimQuietly(sessionId, requestId);
    return this.#track(
      sessionId,
      requestId,
      result.then((outcome) => {
        this.#save(sessionId, requestId, outcome);
        return outcome;
      }),
    );
  }

  /** The session's client got these replies and will not ask again: their outcomes can go now. */
  release(sessionId: string, requestIds: readonly string[]): void {
    if (!this.#store.release) return;
    for (const requestId of requestIds) this.#store.release(sessionId, requestId);
  }

  #track(sessionId: string, requestId: string, running: Promise<Outcome>): Promise<Outcome> {
    const key = `${sessionId}:${requestId}`;
    const tracked = running.finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, tracked);
    return tracked;
  }

  #claimQuietly(sessionId: string, requestId: string): void {
    try {
      const claimed = this.#store.claim(sessionId, requestId, this.#pendingTtlMs);
      if (claimed instanceof Promise) claimed.catch((err) => this.#storeUnavailable(err, requestId));
    } catch (err) {
      this.#storeUnavailable(err, requestId);
    }
  }

  #save(sessionId: string, requestId: string, outcome: Outcome): void {
    const failed = (err: unknown) =>
      this.#logger.warn({ err, requestId }, 'could not store a request outcome');
    try {
      const saved = this.#store.save(sessionId, requestId, outcome, this.#windowMs);
      if (saved instanceof Promise) saved.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #storeUnavailable(err: unknown, requestId: string): void {
    this.#logger.warn(
      { err, requestId },
      'dedup store unavailable; running the handler without cross-node dedup',
    );
  }

  async #claimAndRun(
    sessionId: string,
    requestId: string,
    execute: () => Outcome | Promise<Outcome>,
    onDuplicate: () => void,
  ): Promise<Outcome> {
    let claimed: boolean;
    try {
      claimed = await this.#store.claim(sessionId, requestId, this.#pendingTtlMs);
    } catch (err) {
      // Without the store, running the handler (at-least-once) beats refusing the user's request.
      this.#storeUnavailable(err, requestId);
      return execute();
    }
    if (!claimed) {
      onDuplicate();
      return this.#awaitStored(sessionId, requestId);
    }
    const outcome = await execute();
    this.#save(sessionId, requestId, outcome);
    return outcome;
  }

  async #awaitStored(sessionId: string, requestId: string): Promise<Outcome> {
    const deadline = Date.now() + this.#pendingTtlMs;
    let wait = 10;
    while (Date.now() < deadline) {
      let stored: Outcome | typeof PENDING | undefined;
      try {
        stored = await this.#store.load(sessionId, requestId);
      } catch {
        stored = undefined;
      }
      if (stored === undefined) break;
      if (stored !== PENDING) return stored;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 250);
    }
    return { ok: false, code: 'TIMEOUT', message: 'the first attempt of this request did not finish' };
  }
}
