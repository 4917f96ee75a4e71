import { randomUUID } from 'node:crypto';
import {
  ackWindow,
  checkClaimOptions,
  checkLimit,
  checkUserId,
  DEFAULT_DEAD_LETTER_TTL_MS,
  DEFAULT_INBOX_DEDUP_WINDOW_MS,
  type DeadLetter,
  type DeadLetterQuery,
  type Inbox,
  type InboxAckOptions,
  type InboxClaim,
  type InboxClaimOptions,
  InboxError,
  type InboxListener,
  type InboxNotification,
  type InboxNotifyOptions,
  type InboxNotifyResult,
  type InboxRetention,
  type InboxSubscription,
  notifyRequest,
} from './inbox.js';

/**
 * Options of {@link MemoryInbox}.
 *
 * @example
 * ```ts
 * const options: MemoryInboxOptions = { dedupWindowMs: 60_000, sweepIntervalMs: 500 };
 * ```
 */
export interface MemoryInboxOptions extends InboxRetention {
  /** How often expired entries are removed while a listener is subscribed, in ms. Default 1000. */
  sweepIntervalMs?: number;
  /** The clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/** Everything about a notification but its data, which is kept as JSON text. */
type Note = Omit<InboxNotification, 'data'>;

/** A live notification and its delivery state. */
interface Entry {
  note: Note;
  json: string;
  ttlMs: number;
  /** When it is due again after an attempt; null before the first one. */
  nextAttemptAt: number | null;
  /** Who claimed it last ('' for calls without a claimer); null before the first attempt. */
  claimer: string | null;
  offlineClaimed: boolean;
}

interface DeadEntry {
  letter: Omit<DeadLetter, 'data'>;
  json: string;
  ttlMs: number;
  forgetAt: number;
}

/**
 * The inbox of one process: the default when no durable inbox is given. Notifications live as
 * long as the process (so "after a restart" needs `PostgresInbox` or `RedisInbox`). Several
 * nodes in one process share one instance. Memory stays bounded by what is pending: expired
 * notifications, old dead letters and remembered ids are removed by one sweep timer, which runs
 * only while a listener is subscribed and is cleared on `close()`.
 *
 * @example
 * ```ts
 * const inbox = new MemoryInbox();
 * await inbox.notify('42', 'order:status', { state: 'picked-up' }, { id: 'evt-981' });
 * (await inbox.pending('42')).map((n) => n.id); // ['evt-981']
 * ```
 */
export class MemoryInbox implements Inbox {
  readonly #now: () => number;
  readonly #dedupWindowMs: number;
  readonly #deadLetterTtlMs: number;
  readonly #sweepIntervalMs: number;
  /** Every live notification, in store order (redrive re-inserts at the end). */
  readonly #live = new Map<string, Entry>();
  /** Per user, ids in store order. */
  readonly #byUser = new Map<string, Map<string, Entry>>();
  /** Acknowledged or expired ids -> when they may be forgotten; insertion order is forget order. */
  readonly #remembered = new Map<string, number>();
  /** Dead letters in the order they died. */
  readonly #dead = new Map<string, DeadEntry>();
  readonly #listeners = new Set<InboxListener>();
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryInboxOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#dedupWindowMs = options.dedupWindowMs ?? DEFAULT_INBOX_DEDUP_WINDOW_MS;
    this.#deadLetterTtlMs = options.deadLetterTtlMs ?? DEFAULT_DEAD_LETTER_TTL_MS;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 1000;
  }

  /** How many entries this inbox holds: what its memory grows with. */
  get size(): { pending: number; deadLetters: number; remembered: number } {
    return { pending: this.#live.size, deadLetters: this.#dead.size, remembered: this.#remembered.size };
  }

  async notify(
    userId: string,
    event: string,
    data: unknown,
    options?: InboxNotifyOptions,
  ): Promise<InboxNotifyResult> {
    this.#open();
    const request = notifyRequest(userId, event, data, options, randomUUID);
    const now = this.#now();
    const { id } = request;
    if (this.#live.has(id) || this.#dead.has(id) || (this.#remembered.get(id) ?? 0) > now)
      return { id, stored: false, replaced: [] };
    const replaced: string[] = [];
    if (request.collapseKey !== undefined) {
      for (const entry of this.#userEntries(userId)) {
        if (entry.note.collapseKey === request.collapseKey && entry.nextAttemptAt === null) {
          this.#remove(entry);
          replaced.push(entry.note.id);
        }
      }
    }
    const note: Note = {
      id,
      userId,
      event: request.event,
      urgent: request.urgent,
      seq: ++this.#seq,
      createdAt: now,
      expiresAt: now + request.ttlMs,
      attempts: 0,
    };
    if (request.collapseKey !== undefined) note.collapseKey = request.collapseKey;
    this.#insert({
      note,
      json: request.json,
      ttlMs: request.ttlMs,
      nextAttemptAt: null,
      claimer: null,
      offlineClaimed: false,
    });
    this.#wake(userId);
    return { id, stored: true, replaced };
  }

  async pending(userId: string, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    this.#open();
    checkUserId(userId);
    const limit = checkLimit(options.limit);
    const now = this.#now();
    return this.#ordered(userId)
      .filter((entry) => entry.note.expiresAt > now)
      .slice(0, limit)
      .map(copy);
  }

  async claim(userId: string, options: InboxClaimOptions): Promise<InboxClaim> {
    this.#open();
    checkUserId(userId);
    const limit = checkClaimOptions(options);
    const now = this.#now();
    const claimer = options.claimer ?? '';
    const deliver: InboxNotification[] = [];
    const deadLettered: DeadLetter[] = [];
    for (const entry of this.#ordered(userId)) {
      if (deliver.length >= limit) break;
      if (entry.note.expiresAt <= now) continue;
      if (entry.nextAttemptAt !== null && entry.nextAttemptAt > now) {
        if (options.resend === true) {
          // In flight: sent again in its place, taken over, no attempt counted.
          entry.claimer = claimer;
          entry.nextAttemptAt = now + options.retryAfterMs;
          deliver.push(copy(entry));
          continue;
        }
        // Held by someone else: nothing after it may overtake it.
        if (entry.claimer !== claimer) break;
        continue;
      }
      if (entry.note.attempts >= options.maxAttempts) {
        deadLettered.push(this.#kill(entry, now));
        continue;
      }
      entry.note.attempts += 1;
      entry.nextAttemptAt = now + options.retryAfterMs;
      entry.claimer = claimer;
      deliver.push(copy(entry));
    }
    let retryAt: number | null = null;
    for (const entry of this.#userEntries(userId)) {
      if (entry.nextAttemptAt !== null && (retryAt === null || entry.nextAttemptAt < retryAt))
        retryAt = entry.nextAttemptAt;
    }
    return {
      deliver,
      deadLettered,
      retryAt,
      retryInMs: retryAt === null ? null : Math.max(0, retryAt - now),
    };
  }

  async ack(userId: string, ids: readonly string[], options?: InboxAckOptions): Promise<number> {
    this.#open();
    checkUserId(userId);
    const forgetAt = this.#now() + ackWindow(options, this.#dedupWindowMs);
    let removed = 0;
    for (const id of ids) {
      const entry = this.#live.get(id);
      if (entry === undefined || entry.note.userId !== userId) continue;
      this.#remove(entry);
      this.#remember(id, forgetAt);
      removed += 1;
    }
    return removed;
  }

  async claimOffline(afterMs: number, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    this.#open();
    const limit = checkLimit(options.limit);
    const now = this.#now();
    const cutoff = now - afterMs;
    const claimed: InboxNotification[] = [];
    for (const entry of this.#live.values()) {
      // Store order is creation order, so the first entry too young ends the scan.
      if (entry.note.createdAt > cutoff || claimed.length >= limit) break;
      if (entry.offlineClaimed || entry.note.expiresAt <= now) continue;
      entry.offlineClaimed = true;
      claimed.push(copy(entry));
    }
    return claimed;
  }

  async deadLetters(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    this.#open();
    const limit = checkLimit(query.limit);
    const now = this.#now();
    const letters: DeadLetter[] = [];
    for (const dead of this.#dead.values()) {
      if (letters.length >= limit) break;
      if (dead.forgetAt <= now) continue;
      if (query.userId !== undefined && dead.letter.userId !== query.userId) continue;
      letters.push({ ...dead.letter, data: JSON.parse(dead.json) as unknown });
    }
    return letters;
  }

  async redrive(id: string): Promise<boolean> {
    this.#open();
    const dead = this.#dead.get(id);
    if (dead === undefined) return false;
    this.#dead.delete(id);
    const now = this.#now();
    const { letter } = dead;
    const note: Note = {
      id,
      userId: letter.userId,
      event: letter.event,
      urgent: letter.urgent,
      seq: ++this.#seq,
      createdAt: now,
      expiresAt: now + dead.ttlMs,
      attempts: 0,
    };
    if (letter.collapseKey !== undefined) note.collapseKey = letter.collapseKey;
    this.#insert({
      note,
      json: dead.json,
      ttlMs: dead.ttlMs,
      nextAttemptAt: null,
      claimer: null,
      offlineClaimed: false,
    });
    this.#wake(letter.userId);
    return true;
  }

  async subscribe(listener: InboxListener): Promise<InboxSubscription> {
    this.#open();
    this.#listeners.add(listener);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#sweepIntervalMs);
      this.#timer.unref();
    }
    return {
      unsubscribe: async () => {
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) this.#stopTimer();
      },
    };
  }

  /**
   * Removes expired notifications (reported to one listener's `onExpired`), dead letters past
   * their retention and ids past the dedup window. The sweep timer calls it; tests may too.
   */
  sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    const expired: InboxNotification[] = [];
    for (const entry of [...this.#live.values()]) {
      if (entry.note.expiresAt > now) continue;
      this.#remove(entry);
      this.#remember(entry.note.id, now + this.#dedupWindowMs);
      expired.push(copy(entry));
    }
    for (const [id, forgetAt] of this.#remembered) {
      if (forgetAt > now) break;
      this.#remembered.delete(id);
    }
    for (const [id, dead] of this.#dead) {
      if (dead.forgetAt > now) break;
      this.#dead.delete(id);
    }
    if (expired.length === 0) return;
    // One listener gets each expiry, as one node in a cluster would.
    const [first] = this.#listeners;
    if (first?.onExpired === undefined) return;
    try {
      first.onExpired(expired);
    } catch (error) {
      first.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    this.#listeners.clear();
  }

  #open(): void {
    if (this.#closed) throw new InboxError('INBOX_CLOSED', 'inbox is closed');
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #userEntries(userId: string): Iterable<Entry> {
    return this.#byUser.get(userId)?.values() ?? [];
  }

  /** Urgent first, then the rest; store order within each. */
  #ordered(userId: string): Entry[] {
    const entries = [...this.#userEntries(userId)];
    return [...entries.filter((e) => e.note.urgent), ...entries.filter((e) => !e.note.urgent)];
  }

  #insert(entry: Entry): void {
    this.#live.set(entry.note.id, entry);
    let user = this.#byUser.get(entry.note.userId);
    if (user === undefined) this.#byUser.set(entry.note.userId, (user = new Map()));
    user.set(entry.note.id, entry);
  }

  #remove(entry: Entry): void {
    this.#live.delete(entry.note.id);
    const user = this.#byUser.get(entry.note.userId);
    user?.delete(entry.note.id);
    if (user?.size === 0) this.#byUser.delete(entry.note.userId);
  }

  #remember(id: string, forgetAt: number): void {
    // Re-insert so the map stays in forget order.
    this.#remembered.delete(id);
    this.#remembered.set(id, forgetAt);
  }

  #kill(entry: Entry, now: number): DeadLetter {
    this.#remove(entry);
    const { note } = entry;
    const letter: Omit<DeadLetter, 'data'> = {
      id: note.id,
      userId: note.userId,
      event: note.event,
      reason: 'dead-letter',
      attempts: note.attempts,
      urgent: note.urgent,
      deadAt: now,
    };
    if (note.collapseKey !== undefined) letter.collapseKey = note.collapseKey;
    this.#dead.set(note.id, {
      letter,
      json: entry.json,
      ttlMs: entry.ttlMs,
      forgetAt: now + this.#deadLetterTtlMs,
    });
    return { ...letter, data: JSON.parse(entry.json) as unknown };
  }

  #wake(userId: string): void {
    for (const listener of this.#listeners) {
      queueMicrotask(() => {
        try {
          listener.onStored(userId);
        } catch (error) {
          listener.onError?.(error instanceof Error ? error : new Error(String(error)));
        }
      });
    }
  }
}

const copy = (entry: Entry): InboxNotification => ({
  ...entry.note,
  data: JSON.parse(entry.json) as unknown,
});
