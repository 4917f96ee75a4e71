import { type LocalEntry as Entry, SessionOutcomes } from './session-outcomes.js';

/** How a request ended: the reply, or an error reply. Stored so a retry gets the same answer. */
export type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/** What a store holds for a request whose handler is still running. */
export const PENDING = 'pending';

type LocalEntry = Entry<Outcome | typeof PENDING>;

/**
 * Where request outcomes wait for retries, shared by every node of a bus, per session and request
 * id. Methods may answer synchronously (a store in this process) or with a promise (a store across
 * processes).
 *
 * @example
 * if (await store.claim('s1', 'r1', 60_000)) store.save('s1', 'r1', { ok: true, data: 1 }, 300_000);
 */
export interface OutcomeStore {
  /** Marks a request as running; false when it exists already (running or done). */
  claim(sessionId: string, requestId: string, ttlMs: number): boolean | Promise<boolean>;
  save(sessionId: string, requestId: string, outcome: Outcome, ttlMs: number): void | Promise<void>;
  load(
    sessionId: string,
    requestId: string,
  ): Outcome | typeof PENDING | undefined | Promise<Outcome | typeof PENDING | undefined>;
  /**
   * Optional: the client got the reply and will never send this request again, so its outcome
   * can go before the window ends. A store without it lets outcomes expire.
   */
  release?(sessionId: string, requestId: string): void;
}

/**
 * Outcomes kept as objects in this process: no serialization, no promise, no key built per
 * request (a short list per session, a map past a few entries: see `SessionOutcomes`). Within
 * a session, entries live in insertion order and (but for a claim still running) expire in it,
 * so a sweep stops at the first live one. The reply value is kept by reference, not copied.
 *
 * @example
 * const store = new LocalOutcomeStore();
 * store.save('s1', 'r1', { ok: true, data: 'hi' }, 60_000);
 */
export class LocalOutcomeStore implements OutcomeStore {
  readonly #sessions = new Map<string, SessionOutcomes<Outcome | typeof PENDING>>();
  #size = 0;

  /** Outcomes and claims held. */
  get size(): number {
    return this.#size;
  }

  claim(sessionId: string, requestId: string, ttlMs: number): boolean {
    const now = Date.now();
    if (this.#live(sessionId, requestId, now)) return false;
    this.#put(sessionId, { requestId, outcome: PENDING, expiresAt: now + ttlMs });
    return true;
  }

  save(sessionId: string, requestId: string, outcome: Outcome, ttlMs: number): void {
    // A claimed request keeps its place: the sweep may meet it before older-expiring entries
    // behind it, which then wait at most as long as the handler ran.
    this.#put(sessionId, { requestId, outcome, expiresAt: Date.now() + ttlMs });
  }

  load(sessionId: string, requestId: string): Outcome | typeof PENDING | undefined {
    return this.#live(sessionId, requestId, Date.now())?.outcome;
  }

  release(sessionId: string, requestId: string): void {
    // An emptied session map stays until the sweep: a busy client would otherwise get a new
    // map for every request.
    if (this.#sessions.get(sessionId)?.delete(requestId)) this.#size--;
  }

  /** Drops expired entries, and sessions left with none. */
  sweep(now: number): void {
    for (const [sessionId, entries] of this.#sessions) {
      this.#size -= entries.dropExpired(now);
      if (entries.size === 0) this.#sessions.delete(sessionId);
    }
  }

  clear(): void {
    this.#sessions.clear();
    this.#size = 0;
  }

  #put(sessionId: string, entry: LocalEntry): void {
    let entries = this.#sessions.get(sessionId);
    if (!entries) this.#sessions.set(sessionId, (entries = new SessionOutcomes()));
    if (entries.put(entry)) this.#size++;
  }

  #live(sessionId: string, requestId: string, now: number): LocalEntry | undefined {
    const entries = this.#sessions.get(sessionId);
    const entry = entries?.get(requestId);
    if (entry && entry.expiresAt <= now) {
      entries!.delete(requestId);
      this.#size--;
      return undefined;
    }
    return entry;
  }
}
