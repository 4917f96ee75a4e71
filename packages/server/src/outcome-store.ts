import type { Bus } from './bus.js';

/** How a request ended: the reply, or an error reply. Stored so a retry gets the same answer. */
export type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/** What a store holds for a request whose handler is still running. */
export const PENDING = 'pending';

/**
 * Where request outcomes wait for retries, shared by every node of a bus. Methods may answer
 * synchronously (a store in this process) or with a promise (a store across processes).
 *
 * @example
 * if (await store.claim('s1:r1', 60_000)) store.save('s1:r1', { ok: true, data: 1 }, 300_000);
 */
export interface OutcomeStore {
  /** Marks a request as running; false when the key exists already (running or done). */
  claim(key: string, ttlMs: number): boolean | Promise<boolean>;
  save(key: string, outcome: Outcome, ttlMs: number): void | Promise<void>;
  load(key: string): Outcome | typeof PENDING | undefined | Promise<Outcome | typeof PENDING | undefined>;
  /**
   * Optional: the client got the reply and will never send this request again, so its outcome
   * can go before the window ends. A store without it lets outcomes expire.
   */
  release?(key: string): void;
}

interface LocalEntry {
  outcome: Outcome | typeof PENDING;
  expiresAt: number;
}

/**
 * Outcomes kept as objects in this process: no serialization, no promise, one map entry per
 * request. Entries live in insertion order and (but for a claim still running) expire in it, so a
 * sweep stops at the first live one. The reply value is kept by reference, not copied.
 *
 * @example
 * const store = new LocalOutcomeStore();
 * store.save('s1:r1', { ok: true, data: 'hi' }, 60_000);
 */
export class LocalOutcomeStore implements OutcomeStore {
  readonly #entries = new Map<string, LocalEntry>();

  get size(): number {
    return this.#entries.size;
  }

  claim(key: string, ttlMs: number): boolean {
    const now = Date.now();
    if (this.#live(key, now)) return false;
    this.#entries.set(key, { outcome: PENDING, expiresAt: now + ttlMs });
    return true;
  }

  save(key: string, outcome: Outcome, ttlMs: number): void {
    // A claimed key keeps its place: the sweep may meet it before older-expiring entries behind
    // it, which then wait at most as long as the handler ran.
    this.#entries.set(key, { outcome, expiresAt: Date.now() + ttlMs });
  }

  load(key: string): Outcome | typeof PENDING | undefined {
    return this.#live(key, Date.now())?.outcome;
  }

  release(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops expired entries from the front; a claim that never finished can hold the rest back briefly. */
  sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) return;
      this.#entries.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #live(key: string, now: number): LocalEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

/**
 * Outcomes as JSON strings in the bus's shared values (`bus.get` / `bus.set`): what every bus
 * offers, and what a bus across processes needs.
 *
 * @example
 * const store = busOutcomeStore(redisBus);
 */
export function busOutcomeStore(bus: Bus): OutcomeStore {
  const storeKey = (key: string) => `req:${key}`;
  return {
    claim: (key, ttlMs) => bus.set(storeKey(key), PENDING, ttlMs, { ifAbsent: true }),
    save: (key, outcome, ttlMs) => bus.set(storeKey(key), JSON.stringify(outcome), ttlMs).then(noop),
    async load(key) {
      const stored = await bus.get(storeKey(key));
      if (stored === undefined || stored === PENDING) return stored;
      return JSON.parse(stored) as Outcome;
    },
  };
}

function noop(): void {}
