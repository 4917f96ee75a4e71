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
import pg from 'pg';
import { migrate, quoteIdent } from './migrations.js';
import {
  byDeliveryOrder,
  type DeadRow,
  type NoteRow,
  type Statements,
  statements,
  toDeadLetter,
  toNotification,
} from './statements.js';
import { WakeListener } from './wake-listener.js';

/**
 * Options of {@link PostgresInbox}: where the database is (`connectionString` or a `pool` the
 * caller owns), and timings.
 *
 * @example
 * ```ts
 * const options: PostgresInboxOptions = { connectionString: 'postgres://127.0.0.1:5432/app', schema: 'tether' };
 * ```
 */
export interface PostgresInboxOptions extends InboxRetention {
  /** A `postgres://` URL; the inbox makes (and on close ends) its own pool. */
  connectionString?: string;
  /** A pool the caller owns (not ended on close). Its `options` also open the LISTEN connection. */
  pool?: pg.Pool;
  /** Schema of the inbox's tables, created if missing. Default `tether`. */
  schema?: string;
  /** How often expired rows are removed while a listener is subscribed, in ms. Default 5000. */
  sweepIntervalMs?: number;
  /** Rows removed per statement by the sweep (at most 10 statements per sweep). Default 1000. */
  sweepBatchSize?: number;
  /** The safety poll for wakeups missed by LISTEN, in ms. Default 30000. */
  pollIntervalMs?: number;
}

/** A client inside the app's transaction: a `pg.Client` or a checked-out `pg.PoolClient`. */
export type PgQueryable = Pick<pg.ClientBase, 'query'>;

/** Thrown errors keep their class; the store's errors become `INBOX_UNAVAILABLE` with the cause. */
const wrap = (error: unknown): InboxError =>
  error instanceof InboxError
    ? error
    : new InboxError(
        'INBOX_UNAVAILABLE',
        `PostgreSQL inbox: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );

const MAX_SWEEP_STATEMENTS = 10;

/**
 * The durable inbox on PostgreSQL: notifications survive restarts of every node, nodes are woken
 * by LISTEN/NOTIFY, and `notify(pgClient, ...)` writes inside the app's own transaction (delivered
 * only if it commits). Creates and migrates its tables on first use. See docs/notifications.md.
 *
 * @example
 * ```ts
 * const inbox = new PostgresInbox({ connectionString: 'postgres://127.0.0.1:5432/app' });
 * await inbox.notify('42', 'order:status', { state: 'picked-up' }, { id: 'evt-981' });
 * // inside the app's transaction:
 * await client.query('BEGIN');
 * await client.query('UPDATE orders SET state = $1 WHERE id = $2', ['picked-up', 42]);
 * await inbox.notify(client, '42', 'order:status', { state: 'picked-up' }, { id: 'evt-982' });
 * await client.query('COMMIT');
 * ```
 */
export class PostgresInbox implements Inbox {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  readonly #channel: string;
  readonly #sql: Statements;
  readonly #dedupWindowMs: number;
  readonly #deadLetterTtlMs: number;
  readonly #sweepIntervalMs: number;
  readonly #sweepBatchSize: number;
  readonly #pollIntervalMs: number;
  readonly #listeners = new Set<InboxListener>();
  #ready: Promise<void> | undefined;
  #wake: WakeListener | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #sweeping = false;
  #lastSeq = 0;
  #closed = false;

  constructor(options: PostgresInboxOptions) {
    if (options.pool !== undefined) {
      this.#pool = options.pool;
      this.#ownsPool = false;
    } else if (options.connectionString !== undefined) {
      this.#pool = new pg.Pool({ connectionString: options.connectionString, max: 10 });
      this.#ownsPool = true;
      // An idle pooled connection that dies must not crash the process; the next query reconnects.
      this.#pool.on('error', (error) => this.#report(error));
    } else {
      throw new TypeError('PostgresInbox needs connectionString or pool');
    }
    this.#schema = options.schema ?? 'tether';
    const quoted = quoteIdent(this.#schema);
    this.#channel = `${this.#schema}.inbox`;
    this.#sql = statements(quoted);
    this.#dedupWindowMs = options.dedupWindowMs ?? DEFAULT_INBOX_DEDUP_WINDOW_MS;
    this.#deadLetterTtlMs = options.deadLetterTtlMs ?? DEFAULT_DEAD_LETTER_TTL_MS;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    this.#sweepBatchSize = options.sweepBatchSize ?? 1000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 30_000;
  }

  /** The schema holding the inbox's tables. */
  get schema(): string {
    return this.#schema;
  }

  /** The LISTEN connection's backend pid while subscribed (what `pg_terminate_backend` takes). */
  get listenerPid(): number | undefined {
    return this.#wake?.backendPid;
  }

  /**
   * Creates or migrates the tables (once per instance; concurrent nodes serialise on an advisory
   * lock). Every other method waits for it; call it at startup to fail early.
   */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new InboxError('INBOX_CLOSED', 'inbox is closed'));
    this.#ready ??= migrate(this.#pool, this.#schema, this.#channel).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined; // let the next call try again
        throw wrap(error);
      },
    );
    return this.#ready;
  }

  notify(
    userId: string,
    event: string,
    data: unknown,
    options?: InboxNotifyOptions,
  ): Promise<InboxNotifyResult>;
  /**
   * Stores the notification with the caller's client, inside whatever transaction it has open:
   * rolled back, nothing is stored or delivered; committed, it is stored and subscribers are woken.
   * Holds the user's advisory lock until that transaction ends.
   */
  notify(
    client: PgQueryable,
    userId: string,
    event: string,
    data: unknown,
    options?: InboxNotifyOptions,
  ): Promise<InboxNotifyResult>;
  async notify(...args: unknown[]): Promise<InboxNotifyResult> {
    const [client, rest] =
      typeof args[0] === 'string' ? [this.#pool, args] : [args[0] as PgQueryable, args.slice(1)];
    const [userId, event, data, options] = rest as [string, string, unknown, InboxNotifyOptions | undefined];
    await this.#open();
    const request = notifyRequest(userId, event, data, options, randomUUID);
    const { rows } = await client
      .query<{ replaced: string[] | null }>(this.#sql.notify, [
        request.id,
        request.userId,
        request.event,
        request.json,
        request.ttlMs,
        request.urgent,
        request.collapseKey ?? null,
      ])
      .catch((error: unknown) => Promise.reject(wrap(error)));
    const replaced = rows[0]?.replaced ?? null;
    return { id: request.id, stored: replaced !== null, replaced: replaced ?? [] };
  }

  async pending(userId: string, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    checkUserId(userId);
    const limit = checkLimit(options.limit);
    const rows = await this.#query<NoteRow>(this.#sql.pending, [userId, limit]);
    return rows.map(toNotification);
  }

  async claim(userId: string, options: InboxClaimOptions): Promise<InboxClaim> {
    checkUserId(userId);
    const limit = checkClaimOptions(options);
    const rows = await this.#query<NoteRow & DeadRow & { kind: 'dead' | 'sent' }>(this.#sql.claim, [
      userId,
      options.claimer ?? '',
      options.maxAttempts,
      Math.ceil(options.retryAfterMs),
      limit,
      this.#deadLetterTtlMs,
      options.resend === true,
    ]);
    const deliver = rows
      .filter((row) => row.kind === 'sent')
      .map(toNotification)
      .sort(byDeliveryOrder);
    const deadLettered = rows.filter((row) => row.kind === 'dead').map(toDeadLetter);
    const [next] = await this.#query<{ retry_at: string | null; retry_in: string | null }>(
      this.#sql.retryAt,
      [userId],
    );
    const retryAt = next?.retry_at == null ? null : Number(next.retry_at);
    const retryInMs = next?.retry_in == null ? null : Math.max(0, Number(next.retry_in));
    return { deliver, deadLettered, retryAt, retryInMs };
  }

  async ack(userId: string, ids: readonly string[], options?: InboxAckOptions): Promise<number> {
    checkUserId(userId);
    const windowMs = ackWindow(options, this.#dedupWindowMs);
    if (ids.length === 0) return 0;
    const rows = await this.#query(this.#sql.ack, [userId, [...ids], windowMs]);
    return rows.length;
  }

  async claimOffline(afterMs: number, options: { limit?: number } = {}): Promise<InboxNotification[]> {
    const limit = checkLimit(options.limit);
    const rows = await this.#query<NoteRow>(this.#sql.claimOffline, [
      Math.max(0, Math.floor(afterMs)),
      limit,
    ]);
    return rows.map(toNotification).sort((a, b) => a.seq - b.seq);
  }

  async deadLetters(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const limit = checkLimit(query.limit);
    const rows = await this.#query<DeadRow>(this.#sql.deadLetters, [query.userId ?? null, limit]);
    return rows.map(toDeadLetter);
  }

  async redrive(id: string): Promise<boolean> {
    const [row] = await this.#query<{ redriven: boolean }>(this.#sql.redrive, [id]);
    return row?.redriven === true;
  }

  async subscribe(listener: InboxListener): Promise<InboxSubscription> {
    await this.#open();
    this.#listeners.add(listener);
    if (this.#wake === undefined) {
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
   * Removes expired notifications in batches (reported to one local listener's `onExpired`), then
   * dead letters and remembered ids past their retention. At most 10 statements of
   * `sweepBatchSize` rows each per table and call; the timer calls it while subscribed.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      for (let i = 0; i < MAX_SWEEP_STATEMENTS; i += 1) {
        const expired = await this.#query<NoteRow>(this.#sql.expire, [
          this.#sweepBatchSize,
          this.#dedupWindowMs,
        ]);
        if (expired.length > 0) this.#expired(expired.map(toNotification).sort((a, b) => a.seq - b.seq));
        if (expired.length < this.#sweepBatchSize) break;
      }
      for (const statement of [this.#sql.forgetRemembered, this.#sql.forgetDeadLetters]) {
        for (let i = 0; i < MAX_SWEEP_STATEMENTS; i += 1) {
          const result = await this.#pool.query(statement, [this.#sweepBatchSize]);
          if ((result.rowCount ?? 0) < this.#sweepBatchSize) break;
        }
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
    await this.#ready?.catch(() => undefined);
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }

  async #open(): Promise<void> {
    if (this.#closed) throw new InboxError('INBOX_CLOSED', 'inbox is closed');
    await this.ready();
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    await this.#open();
    try {
      return (await this.#pool.query<R>(text, values)).rows;
    } catch (error) {
      throw wrap(error);
    }
  }

  async #startBackground(): Promise<void> {
    const [row] = await this.#query<{ seq: string }>(this.#sql.maxSeq, []);
    this.#lastSeq = Number(row?.seq ?? 0);
    const config: pg.ClientConfig = { ...(this.#pool.options as pg.ClientConfig) };
    this.#wake = new WakeListener(config, this.#channel, {
      onWake: (userId) => this.#stored(userId),
      onRelisten: () => {
        for (const listener of this.#listeners) this.#call(listener, () => listener.onResync?.());
        void this.#poll();
      },
      onError: (error) => this.#report(error),
    });
    await this.#wake.start();
    this.#sweepTimer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.#report(error));
    }, this.#sweepIntervalMs);
    this.#sweepTimer.unref();
    this.#pollTimer = setInterval(() => void this.#poll(), this.#pollIntervalMs);
    this.#pollTimer.unref();
  }

  async #stopBackground(): Promise<void> {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    this.#sweepTimer = undefined;
    this.#pollTimer = undefined;
    const wake = this.#wake;
    this.#wake = undefined;
    await wake?.stop();
  }

  /** The safety net under LISTEN: users with notifications stored since the last poll. */
  async #poll(): Promise<void> {
    if (this.#closed || this.#listeners.size === 0) return;
    try {
      const rows = await this.#query<{ user_id: string; seq: string }>(this.#sql.poll, [this.#lastSeq, 1000]);
      for (const row of rows) {
        this.#lastSeq = Math.max(this.#lastSeq, Number(row.seq));
        this.#stored(row.user_id);
      }
    } catch (error) {
      this.#report(error);
    }
  }

  #stored(userId: string): void {
    for (const listener of this.#listeners) this.#call(listener, () => listener.onStored(userId));
  }

  #expired(notes: InboxNotification[]): void {
    // The DELETE handed these rows to this node alone; one local listener reports them.
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
      if (listener.onError === undefined) return;
      try {
        listener.onError(error instanceof Error ? error : new Error(String(error)));
      } catch {
        // A listener that throws from onError has nowhere left to report to.
      }
    }
  }
}
