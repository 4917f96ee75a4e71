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
} from '@tether/server';
import { Redis } from 'ioredis';
import { InboxKeys } from './inbox-keys.js';
import {
  INBOX_ACK,
  INBOX_CLAIM,
  INBOX_CLAIM_OFFLINE,
  INBOX_DEAD_LETTERS,
  INBOX_NOTIFY,
  INBOX_PENDING,
  INBOX_REDRIVE,
  INBOX_SWEEP,
} from './inbox-scripts.js';
import { type LuaScript, runScript } from './scripts.js';

/**
 * Options of {@link RedisInbox}: a Redis URL (the inbox owns its connections) or a client the
 * caller owns, plus retention and sweep timing.
 *
 * @example
 * ```ts
 * const options: RedisInboxOptions = { url: 'redis://127.0.0.1:6379', keyPrefix: 'myapp:' };
 * ```
 */
export type RedisInboxOptions = ({ url: string } | { client: Redis }) & RedisInboxSettings;

/** Settings of {@link RedisInbox} besides where Redis is. */
export interface RedisInboxSettings extends InboxRetention {
  /** Key prefix, as RedisBus's `keyPrefix`; inbox keys live under `<prefix>inbox:`. Default `tether:`. */
  keyPrefix?: string;
  /** How often expired entries are removed while a listener is subscribed, in ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Entries removed per script call by the sweep (at most 10 calls per sweep). Default 500. */
  sweepBatchSize?: number;
}

type Triple = [string, string, string];
const MAX_SWEEP_CALLS = 10;

interface Meta {
  u: string;
  e: string;
  g: number;
  k?: string;
  c: number;
  x: number;
  a: number;
  s: number;
}
interface DeadMeta {
  u: string;
  e: string;
  g: number;
  k?: string;
  a: number;
  da: number;
}

const wrap = (error: unknown): InboxError =>
  error instanceof InboxError
    ? error
    : new InboxError(
        'INBOX_UNAVAILABLE',
        `Redis inbox: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );

function toNotification([id, raw, data]: Triple): InboxNotification {
  const m = JSON.parse(raw) as Meta;
  const note: InboxNotification = {
    id,
    userId: m.u,
    event: m.e,
    data: JSON.parse(data) as unknown,
    urgent: m.g === 1,
    seq: m.s,
    createdAt: m.c,
    expiresAt: m.x,
    attempts: m.a,
  };
  if (m.k !== undefined) note.collapseKey = m.k;
  return note;
}

function toDeadLetter([id, raw, data]: Triple): DeadLetter {
  const m = JSON.parse(raw) as DeadMeta;
  const letter: DeadLetter = {
    id,
    userId: m.u,
    event: m.e,
    data: JSON.parse(data) as unknown,
    reason: 'dead-letter',
    attempts: m.a,
    urgent: m.g === 1,
    deadAt: m.da,
  };
  if (m.k !== undefined) letter.collapseKey = m.k;
  return letter;
}

/**
 * The durable inbox on Redis, for RedisBus deployments without PostgreSQL: sorted sets per user
 * (one range in delivery order), Lua scripts for every atomic step, pub/sub for wakeups. Durable
 * as far as the Redis server persists (AOF `everysec` or `always` is advised). Single Redis only.
 *
 * @example
 * ```ts
 * const inbox = new RedisInbox({ url: 'redis://127.0.0.1:6379' });
 * await inbox.notify('42', 'order:status', { state: 'picked-up' }, { id: 'evt-981' });
 * ```
 */
export class RedisInbox implements Inbox {
  readonly #redis: Redis;
  readonly #ownsClient: boolean;
  readonly #keys: InboxKeys;
  readonly #dedupWindowMs: number;
  readonly #deadLetterTtlMs: number;
  readonly #sweepIntervalMs: number;
  readonly #sweepBatchSize: number;
  readonly #listeners = new Set<InboxListener>();
  #subscriber: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeping = false;
  #closed = false;

  constructor(options: RedisInboxOptions) {
    if ('client' in options) {
      this.#redis = options.client;
      this.#ownsClient = false;
    } else {
      this.#redis = new Redis(options.url, { maxRetriesPerRequest: 3 });
      this.#ownsClient = true;
      this.#redis.on('error', (error: Error) => this.#report(error));
    }
    this.#keys = new InboxKeys(options.keyPrefix);
    this.#dedupWindowMs = options.dedupWindowMs ?? DEFAULT_INBOX_DEDUP_WINDOW_MS;
    this.#deadLetterTtlMs = options.deadLetterTtlMs ?? DEFAULT_DEAD_LETTER_TTL_MS;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    this.#sweepBatchSize = options.sweepBatchSize ?? 500;
  }

  /** The names of every key this inbox uses. */
  get keys(): InboxKeys {
    return this.#keys;
  }

  async notify(
    userId: string,
    event: string,
    data: unknown,
    options?: InboxNotifyOptions,
  ): Promise<InboxNotifyResult> {
    const request = notifyRequest(userId, event, data, options, randomUUID);
    const replaced = (await this.#run(INBOX_NOTIFY, [
      request.id,
      request.userId,
      request.event,
      request.json,
      request.ttlMs,
      request.urgent ? 1 : 0,
      request.collapseKey ?? '',
      this.#keys.wakeChannel,
    ])) as string[] | null;
    return { id: request.id, stored: replaced !== null, replaced: replaced ?? [] };
  }

  async pending(userId: string, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    checkUserId(userId);
    const limit = checkLimit(options.limit);
    const rows = (await this.#run(INBOX_PENDING, [userId, limit])) as Triple[];
    return rows.map(toNotification);
  }

  async claim(userId: string, options: InboxClaimOptions): Promise<InboxClaim> {
    checkUserId(userId);
    const limit = checkClaimOptions(options);
    const [sent, dead, retryAt, retryIn] = (await this.#run(INBOX_CLAIM, [
      userId,
      options.maxAttempts,
      Math.ceil(options.retryAfterMs),
      limit,
      this.#deadLetterTtlMs,
      options.claimer ?? '',
      options.resend === true ? 1 : 0,
    ])) as [Triple[], Triple[], string, string];
    const next = Number(retryAt);
    return {
      deliver: sent.map(toNotification),
      deadLettered: dead.map(toDeadLetter),
      retryAt: next < 0 ? null : next,
      retryInMs: next < 0 ? null : Math.max(0, Number(retryIn)),
    };
  }

  async ack(userId: string, ids: readonly string[], options?: InboxAckOptions): Promise<number> {
    checkUserId(userId);
    const windowMs = ackWindow(options, this.#dedupWindowMs);
    if (ids.length === 0) return 0;
    return (await this.#run(INBOX_ACK, [userId, windowMs, ...ids])) as number;
  }

  async claimOffline(afterMs: number, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    const limit = checkLimit(options.limit);
    const rows = (await this.#run(INBOX_CLAIM_OFFLINE, [
      Math.max(0, Math.floor(afterMs)),
      limit,
    ])) as Triple[];
    return rows.map(toNotification);
  }

  async deadLetters(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const limit = checkLimit(query.limit);
    const rows = (await this.#run(INBOX_DEAD_LETTERS, [query.userId ?? '', limit])) as Triple[];
    return rows.map(toDeadLetter);
  }

  async redrive(id: string): Promise<boolean> {
    return (await this.#run(INBOX_REDRIVE, [id, this.#keys.wakeChannel])) === 1;
  }

  async subscribe(listener: InboxListener): Promise<InboxSubscription> {
    this.#open();
    this.#listeners.add(listener);
    if (this.#subscriber === undefined) {
      try {
        await this.#startBackground();
      } catch (error) {
        this.#listeners.delete(listener);
        await this.#stopBackground();
        throw wrap(error);
      }
    }
    return {
      unsubscribe: async () => {
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) await this.#stopBackground();
      },
    };
  }

  /**
   * Removes expired notifications (reported to one local listener's `onExpired`), remembered ids
   * and dead letters past retention: at most 10 script calls of `sweepBatchSize` entries each.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      for (let i = 0; i < MAX_SWEEP_CALLS; i += 1) {
        const [expired, forgotten, deadForgotten] = (await this.#run(INBOX_SWEEP, [
          this.#sweepBatchSize,
          this.#dedupWindowMs,
        ])) as [Triple[], number, number];
        if (expired.length > 0) this.#expired(expired.map(toNotification));
        if (Math.max(expired.length, forgotten, deadForgotten) < this.#sweepBatchSize) break;
      }
    } finally {
      this.#sweeping = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await this.#stopBackground();
    if (this.#ownsClient) await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #open(): void {
    if (this.#closed) throw new InboxError('INBOX_CLOSED', 'inbox is closed');
  }

  async #run(script: LuaScript, args: ReadonlyArray<string | number>): Promise<unknown> {
    this.#open();
    try {
      return await runScript(this.#redis, script, [], [this.#keys.base, ...args]);
    } catch (error) {
      throw wrap(error);
    }
  }

  async #startBackground(): Promise<void> {
    const subscriber = this.#redis.duplicate();
    this.#subscriber = subscriber;
    let connectedBefore = false;
    subscriber.on('error', (error: Error) => this.#report(error));
    // ioredis subscribes again by itself after a reconnect; wakeups sent in between are lost,
    // so the listeners are asked to catch up.
    subscriber.on('ready', () => {
      if (connectedBefore)
        for (const listener of this.#listeners) this.#call(listener, () => listener.onResync?.());
      connectedBefore = true;
    });
    subscriber.on('message', (channel: string, userId: string) => {
      if (channel === this.#keys.wakeChannel) this.#stored(userId);
    });
    await subscriber.subscribe(this.#keys.wakeChannel);
    this.#timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.#report(error));
    }, this.#sweepIntervalMs);
    this.#timer.unref();
  }

  async #stopBackground(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  #stored(userId: string): void {
    for (const listener of this.#listeners) this.#call(listener, () => listener.onStored(userId));
  }

  #expired(notes: InboxNotification[]): void {
    const [first] = this.#listeners;
    if (first !== undefined) this.#call(first, () => first.onExpired?.(notes));
  }

  #report(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    for (const listener of this.#listeners) this.#call(listener, () => listener.onError?.(err));
  }

  #call(listener: InboxListener, hook: () => void): void {
    try {
      hook();
    } catch (error) {
      try {
        listener.onError?.(error instanceof Error ? error : new Error(String(error)));
      } catch {
        // A listener that throws from onError has nowhere left to report to.
      }
    }
  }
}
