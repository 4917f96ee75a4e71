/**
 * The `Inbox` interface: durable per-user notifications (the offline queue behind
 * `tether.user(key).notify`). `MemoryInbox` keeps them inside one process; `PostgresInbox`
 * (@tether/postgres) and `RedisInbox` (@tether/redis-bus) keep them across restarts and nodes.
 * One contract suite (`inboxContract` in @tether/test-utils) runs over every implementation.
 *
 * How a server uses it (every step is one call, atomic in the store):
 * 1. `notify` stores (idempotent by id, collapse by key) and wakes every subscribed node.
 * 2. A node that serves the user (has one of its connections open) reacts to `onStored` with
 *    `claim(userId)`: the due notifications, each counted as one delivery attempt. The node sends
 *    them to the user's connections on every node (through the bus), so two nodes serving the
 *    same user never count one attempt twice: `claim` hands each due notification to one caller.
 * 3. A newly opened connection gets its backlog from `claim(userId, { resend: true })`: what is
 *    in flight again (no attempt counted), then what is due; `pending` reads without claiming.
 * 4. A client's acknowledgement becomes `ack(userId, ids)`: gone, and its id remembered.
 * 5. The node calls `claim(userId)` again at `retryAt`; a notification that was delivered
 *    `maxAttempts` times and then not acknowledged comes back in `deadLettered` (exactly once in the
 *    cluster) and is kept as a dead letter, listable and redrivable.
 * 6. Any node calls `claimOffline(afterMs)` every so often: notifications still unacknowledged
 *    that long after being stored, each handed to exactly one caller in the cluster.
 * 7. Expired notifications are removed in bounded batches by the inbox itself while a listener
 *    is subscribed, and reported to that listener's `onExpired` (exactly once in the cluster).
 *
 * Ordering: per user, `pending` and `claim` return urgent notifications first, then the rest;
 * within each class in `notify` order (the order in which `notify` calls for that user resolved;
 * two calls racing for the same user are ordered by the store). That delivery order also holds
 * across claimers and crashes: a `claim` never hands out a notification that comes after one
 * another claimer holds in flight (claimed, unacknowledged, not yet due). The holder keeps
 * delivering newer ones on its own connections, whose order the bus keeps; anyone else waits
 * until the held one is acknowledged or due again (a dead holder's claims lapse after
 * `retryAfterMs`), then re-sends from the oldest unacknowledged one. A claim with `resend` takes
 * the held ones over at once, for a connection that has just opened and has none of them.
 * A newer notification goes ahead of an older one only when the older one left the inbox
 * (acknowledged, expired or dead-lettered, each reported) or was already delivered and is
 * being retried after its listener failed.
 */

/** What `notify` accepts besides the event and data. */
export interface InboxNotifyOptions {
  /**
   * Idempotency key, unique across all users. Default: a random UUID. The same id is stored once
   * while it is pending or a dead letter, and for `dedupWindowMs` after it was acknowledged or expired.
   */
  id?: string;
  /** How long the notification waits for an acknowledgement, in ms. Default {@link DEFAULT_NOTIFICATION_TTL_MS}. */
  ttlMs?: number;
  /**
   * Replaces a pending notification of the same user with the same key that was never delivered
   * (no attempt yet). One already delivered and awaiting its ack is kept; the new one is added.
   */
  collapseKey?: string;
  /** Delivered ahead of the user's non-urgent notifications. */
  urgent?: boolean;
}

/** What `notify` did. */
export interface InboxNotifyResult {
  id: string;
  /** False when the id was already known (pending, dead letter, or acknowledged within the window). */
  stored: boolean;
  /** Ids of never-delivered notifications with the same `collapseKey` that this one replaced. */
  replaced: string[];
}

/** A stored notification as the inbox returns it. Times are ms since the epoch, on the store's clock. */
export interface InboxNotification {
  id: string;
  userId: string;
  event: string;
  data: unknown;
  urgent: boolean;
  collapseKey?: string;
  /** Store order; increases with each stored notification (across users too, not gap-free). */
  seq: number;
  createdAt: number;
  expiresAt: number;
  /** Deliveries counted so far (after a `claim`, including the one it counted). */
  attempts: number;
}

/** How `claim` counts attempts. */
export interface InboxClaimOptions {
  /** Deliveries before a notification becomes a dead letter. */
  maxAttempts: number;
  /** How long after an attempt the notification is due again if not acknowledged, in ms. */
  retryAfterMs: number;
  /** At most this many notifications are returned. Default 100. */
  limit?: number;
  /**
   * Who claims (a node id). A notification in flight for another claimer stops the claim there:
   * nothing after it in delivery order is handed out until it is acknowledged or due again.
   * Calls without a claimer count as one and the same claimer.
   */
  claimer?: string;
  /**
   * Also hand out the notifications in flight (for any claimer), in their place in delivery
   * order, without counting another attempt: they become this claimer's, due again after
   * `retryAfterMs`. For a connection that just opened, so that it gets the oldest unacknowledged
   * notification first. Default false.
   */
  resend?: boolean;
}

/** What `claim` hands its caller, and only its caller. */
export interface InboxClaim {
  /** To deliver now, in delivery order (urgent first, then `notify` order); `attempts` already counted (re-sent ones keep theirs). */
  deliver: InboxNotification[];
  /** Delivered `maxAttempts` times without an ack: now dead letters. Report each once. */
  deadLettered: DeadLetter[];
  /** When the earliest of this user's claimed notifications is due again (store clock); null when none waits. */
  retryAt: number | null;
  /** The same as a delay from now, measured on the store's clock (immune to clock skew between node and store). */
  retryInMs: number | null;
}

/** What `ack` accepts. */
export interface InboxAckOptions {
  /** How long the acknowledged ids are remembered, in ms (the server's `dedupWindowMs`). Default: the inbox's own `dedupWindowMs`. */
  dedupWindowMs?: number;
}

/** Why a notification left the inbox without an acknowledgement. */
export type UndeliveredReason = 'dead-letter' | 'expired';

/** A notification kept after `maxAttempts` unacknowledged deliveries. */
export interface DeadLetter {
  id: string;
  userId: string;
  event: string;
  data: unknown;
  reason: 'dead-letter';
  attempts: number;
  urgent: boolean;
  collapseKey?: string;
  /** When it became a dead letter. */
  deadAt: number;
}

/** What `deadLetters` filters by. */
export interface DeadLetterQuery {
  userId?: string;
  /** Default 100. */
  limit?: number;
}

/** A node's hooks into the inbox. Callbacks must not throw; they run on the inbox's own tasks. */
export interface InboxListener {
  /** A notification for `userId` was stored (or redriven). May arrive more than once; never lost while subscribed and healthy. */
  onStored(userId: string): void;
  /** These expired unacknowledged; each is reported to exactly one listener in the cluster. */
  onExpired?(notifications: InboxNotification[]): void;
  /**
   * Wakeups may have been missed (the store connection dropped and came back): claim again for
   * every user this node serves.
   */
  onResync?(): void;
  /** A background task failed (sweep, listen, poll); the inbox retries by itself. */
  onError?(error: Error): void;
}

/** Ends a subscription. */
export interface InboxSubscription {
  unsubscribe(): Promise<void>;
}

/**
 * Durable notification storage for users. Every method is atomic in its store: two nodes
 * calling at once never both get the same attempt, offline notice, dead letter or expiry.
 *
 * @example
 * ```ts
 * const inbox: Inbox = new MemoryInbox();
 * await inbox.notify('42', 'order:status', { state: 'picked-up' }, { id: 'evt-981', collapseKey: 'order:42' });
 * const sub = await inbox.subscribe({ onStored: (userId) => wake(userId) });
 * const { deliver, retryAt } = await inbox.claim('42', { maxAttempts: 3, retryAfterMs: 5000 });
 * await inbox.ack('42', deliver.map((n) => n.id));
 * await sub.unsubscribe();
 * await inbox.close();
 * ```
 */
export interface Inbox {
  /** Stores a notification for `userId` and wakes subscribers. Resolves once it is durable in the store. */
  notify(
    userId: string,
    event: string,
    data: unknown,
    options?: InboxNotifyOptions,
  ): Promise<InboxNotifyResult>;
  /** The user's unacknowledged, unexpired notifications in delivery order, without counting an attempt. */
  pending(userId: string, options?: { limit?: number }): Promise<InboxNotification[]>;
  /** Counts one delivery attempt for each due notification of `userId` and returns them (see {@link InboxClaim}). */
  claim(userId: string, options: InboxClaimOptions): Promise<InboxClaim>;
  /**
   * Removes acknowledged notifications of `userId` (ids of other users are ignored) and remembers
   * their ids for `dedupWindowMs`. Resolves to how many it removed.
   */
  ack(userId: string, ids: readonly string[], options?: InboxAckOptions): Promise<number>;
  /**
   * Notifications stored at least `afterMs` ago that are still unacknowledged and were never
   * handed out by this method: each returned to exactly one caller in the cluster.
   */
  claimOffline(afterMs: number, options?: { limit?: number }): Promise<InboxNotification[]>;
  /** Dead letters, oldest first. */
  deadLetters(query?: DeadLetterQuery): Promise<DeadLetter[]>;
  /**
   * Puts a dead letter back in its user's inbox with zero attempts, a fresh TTL and the next
   * place in `notify` order, and wakes subscribers. Resolves to false when no dead letter has that id.
   */
  redrive(id: string): Promise<boolean>;
  /** Registers a node's hooks; while at least one listener is subscribed, this inbox sweeps expired entries. */
  subscribe(listener: InboxListener): Promise<InboxSubscription>;
  /** Stops timers and listeners and releases connections it owns. Stored notifications stay (where durable). */
  close(): Promise<void>;
}

/** Default `ttlMs` of a notification: 7 days. */
export const DEFAULT_NOTIFICATION_TTL_MS = 7 * 24 * 3_600_000;
/** Default window during which an acknowledged or expired id is remembered: 24 hours. */
export const DEFAULT_INBOX_DEDUP_WINDOW_MS = 24 * 3_600_000;
/** Default time a dead letter is kept: 30 days. */
export const DEFAULT_DEAD_LETTER_TTL_MS = 30 * 24 * 3_600_000;
/** Longest notification id, in characters. */
export const MAX_NOTIFICATION_ID_LENGTH = 200;

/** Stable codes of {@link InboxError}. */
export type InboxErrorCode = 'INBOX_CLOSED' | 'INBOX_INVALID' | 'INBOX_UNAVAILABLE';

/**
 * What every inbox rejects with: `INBOX_CLOSED` after `close()`, `INBOX_INVALID` for a bad
 * argument, `INBOX_UNAVAILABLE` when the store cannot be reached (the cause is attached).
 *
 * @example
 * ```ts
 * try { await inbox.notify('42', 'x', {}); }
 * catch (e) { if (e instanceof InboxError && e.code === 'INBOX_UNAVAILABLE') retryLater(); }
 * ```
 */
export class InboxError extends Error {
  override readonly name = 'InboxError';
  constructor(
    readonly code: InboxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options shared by every inbox implementation. */
export interface InboxRetention {
  /** How long an acknowledged or expired id is remembered, in ms. Default {@link DEFAULT_INBOX_DEDUP_WINDOW_MS}. */
  dedupWindowMs?: number;
  /** How long a dead letter is kept, in ms. Default {@link DEFAULT_DEAD_LETTER_TTL_MS}. */
  deadLetterTtlMs?: number;
}

/** A `notify` call with defaults applied and arguments checked. */
export interface NotifyRequest {
  id: string;
  userId: string;
  event: string;
  /** The data as JSON text: every store keeps what the wire would carry, and a caller's later changes to the object do not leak in. */
  json: string;
  ttlMs: number;
  urgent: boolean;
  collapseKey: string | undefined;
}

/**
 * Checks `notify` arguments and applies defaults; implementations share it so they refuse alike.
 *
 * @example
 * ```ts
 * const request = notifyRequest('42', 'order:status', data, { ttlMs: 60_000 }, randomUUID);
 * ```
 */
export function notifyRequest(
  userId: string,
  event: string,
  data: unknown,
  options: InboxNotifyOptions | undefined,
  newId: () => string,
): NotifyRequest {
  checkUserId(userId);
  if (typeof event !== 'string' || event.length === 0)
    throw new InboxError('INBOX_INVALID', 'event must be a non-empty string');
  const id = options?.id ?? newId();
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_NOTIFICATION_ID_LENGTH)
    throw new InboxError(
      'INBOX_INVALID',
      `id must be a string of 1 to ${MAX_NOTIFICATION_ID_LENGTH} characters`,
    );
  const ttlMs = options?.ttlMs ?? DEFAULT_NOTIFICATION_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new InboxError('INBOX_INVALID', 'ttlMs must be a positive number');
  const collapseKey = options?.collapseKey;
  if (collapseKey !== undefined && (typeof collapseKey !== 'string' || collapseKey.length === 0))
    throw new InboxError('INBOX_INVALID', 'collapseKey must be a non-empty string');
  let json: string;
  try {
    json = JSON.stringify(data ?? null);
  } catch (error) {
    throw new InboxError('INBOX_INVALID', 'data must be JSON-serialisable', { cause: error });
  }
  if (json === undefined) throw new InboxError('INBOX_INVALID', 'data must be JSON-serialisable');
  return {
    id,
    userId,
    event,
    json,
    ttlMs: Math.ceil(ttlMs),
    urgent: options?.urgent === true,
    collapseKey,
  };
}

/**
 * Throws `INBOX_INVALID` unless `userId` is a non-empty string.
 *
 * @example
 * ```ts
 * checkUserId('42');
 * ```
 */
export function checkUserId(userId: string): void {
  if (typeof userId !== 'string' || userId.length === 0)
    throw new InboxError('INBOX_INVALID', 'userId must be a non-empty string');
}

/**
 * Checks `claim` options; returns the limit to use.
 *
 * @example
 * ```ts
 * const limit = checkClaimOptions({ maxAttempts: 3, retryAfterMs: 5000 });
 * ```
 */
export function checkClaimOptions(options: InboxClaimOptions): number {
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1)
    throw new InboxError('INBOX_INVALID', 'maxAttempts must be an integer >= 1');
  if (!Number.isFinite(options.retryAfterMs) || options.retryAfterMs < 0)
    throw new InboxError('INBOX_INVALID', 'retryAfterMs must be a number >= 0');
  if (options.claimer !== undefined && (typeof options.claimer !== 'string' || options.claimer.length === 0))
    throw new InboxError('INBOX_INVALID', 'claimer must be a non-empty string');
  return checkLimit(options.limit);
}

/**
 * The dedup window to use for an ack: the call's, else the inbox's.
 *
 * @example
 * ```ts
 * const windowMs = ackWindow(options, 86_400_000);
 * ```
 */
export function ackWindow(options: InboxAckOptions | undefined, fallback: number): number {
  const windowMs = options?.dedupWindowMs ?? fallback;
  if (!Number.isFinite(windowMs) || windowMs < 0)
    throw new InboxError('INBOX_INVALID', 'dedupWindowMs must be a number >= 0');
  return Math.ceil(windowMs);
}

/**
 * A page size: default 100, at least 1, at most 10,000.
 *
 * @example
 * ```ts
 * checkLimit(undefined); // 100
 * ```
 */
export function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new InboxError('INBOX_INVALID', 'limit must be an integer from 1 to 10000');
  return limit;
}
