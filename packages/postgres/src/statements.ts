import type { DeadLetter, InboxNotification } from '@tether/server';

/** Every SQL statement of PostgresInbox for one schema, built once. */
export interface Statements {
  notify: string;
  pending: string;
  claim: string;
  retryAt: string;
  ack: string;
  claimOffline: string;
  deadLetters: string;
  redrive: string;
  expire: string;
  forgetRemembered: string;
  forgetDeadLetters: string;
  maxSeq: string;
  poll: string;
}

const NOTE_COLUMNS = 'id, user_id, seq, urgent, event, data, collapse_key, created_at, expires_at, attempts';

/**
 * Builds the statements for the quoted schema `s`. Parameters are numbered as each method passes them.
 *
 * @example
 * ```ts
 * const sql = statements('"tether"');
 * await pool.query(sql.pending, ['42', 100]);
 * ```
 */
export function statements(s: string): Statements {
  const n = `${s}.inbox_notifications`;
  const now = `${s}.inbox_now()`;
  return {
    notify: `SELECT ${s}.inbox_notify($1, $2, $3, $4, $5, $6, $7) AS replaced`,
    // One index range: (user_id, urgent DESC, seq).
    pending: `SELECT ${NOTE_COLUMNS} FROM ${n}
      WHERE user_id = $1 AND expires_at > ${now}
      ORDER BY urgent DESC, seq LIMIT $2`,
    // $1 user, $2 claimer ('' for none), $3 maxAttempts, $4 retryAfterMs, $5 limit,
    // $6 deadLetterTtlMs, $7 resend: one function call (migration 2), rows in delivery order.
    claim: `SELECT kind, id, user_id, seq, urgent, event, data, collapse_key, created_at, expires_at, attempts,
      dead_at FROM ${s}.inbox_claim($1, $2, $3, $4, $5, $6, $7)`,
    retryAt: `SELECT min(next_attempt_at) AS retry_at, min(next_attempt_at) - ${now} AS retry_in FROM ${n}
      WHERE user_id = $1 AND next_attempt_at IS NOT NULL AND expires_at > ${now}`,
    // $1 user, $2 ids, $3 dedupWindowMs
    ack: `WITH gone AS (
        DELETE FROM ${n} WHERE user_id = $1 AND id = ANY($2::text[]) RETURNING id
      )
      INSERT INTO ${s}.inbox_remembered (id, forget_at) SELECT id, ${now} + $3 FROM gone
      ON CONFLICT (id) DO UPDATE SET forget_at = excluded.forget_at
      RETURNING id`,
    // $1 afterMs, $2 limit. The partial index holds only rows no one has claimed yet.
    claimOffline: `UPDATE ${n} SET offline_claimed = true
      WHERE id IN (
        SELECT id FROM ${n}
        WHERE NOT offline_claimed AND created_at <= ${now} - $1 AND expires_at > ${now}
        ORDER BY created_at LIMIT $2
        FOR UPDATE SKIP LOCKED
      )
      RETURNING ${NOTE_COLUMNS}`,
    // $1 user or null, $2 limit
    deadLetters: `SELECT id, user_id, urgent, event, data, collapse_key, attempts, dead_at
      FROM ${s}.inbox_dead_letters
      WHERE ($1::text IS NULL OR user_id = $1) AND forget_at > ${now}
      ORDER BY dead_at, id LIMIT $2`,
    redrive: `SELECT ${s}.inbox_redrive($1) AS redriven`,
    // $1 batch size, $2 dedupWindowMs. Expired ids are remembered like acknowledged ones.
    expire: `WITH gone AS (
        DELETE FROM ${n} WHERE id IN (
          SELECT id FROM ${n} WHERE expires_at <= ${now} ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING ${NOTE_COLUMNS}
      ), kept AS (
        INSERT INTO ${s}.inbox_remembered (id, forget_at) SELECT id, ${now} + $2 FROM gone
        ON CONFLICT (id) DO UPDATE SET forget_at = excluded.forget_at
      )
      SELECT * FROM gone`,
    forgetRemembered: `DELETE FROM ${s}.inbox_remembered WHERE id IN (
        SELECT id FROM ${s}.inbox_remembered WHERE forget_at <= ${now} LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    forgetDeadLetters: `DELETE FROM ${s}.inbox_dead_letters WHERE id IN (
        SELECT id FROM ${s}.inbox_dead_letters WHERE forget_at <= ${now} LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    maxSeq: `SELECT coalesce(max(seq), 0) AS seq FROM ${n}`,
    // $1 last seq seen, $2 limit
    poll: `SELECT user_id, max(seq) AS seq FROM ${n} WHERE seq > $1 GROUP BY user_id ORDER BY 2 LIMIT $2`,
  };
}

/** A row of `inbox_notifications` as the statements select it. */
export interface NoteRow {
  id: string;
  user_id: string;
  seq: string;
  urgent: boolean;
  event: string;
  data: unknown;
  collapse_key: string | null;
  created_at: string;
  expires_at: string;
  attempts: number;
}

/** A row of `inbox_dead_letters` as the statements select it. */
export interface DeadRow {
  id: string;
  user_id: string;
  urgent: boolean;
  event: string;
  data: unknown;
  collapse_key: string | null;
  attempts: number;
  dead_at: string;
}

/**
 * A notification row as the inbox returns it (bigint columns arrive as strings).
 *
 * @example
 * ```ts
 * const notes = rows.map(toNotification);
 * ```
 */
export function toNotification(row: NoteRow): InboxNotification {
  const note: InboxNotification = {
    id: row.id,
    userId: row.user_id,
    event: row.event,
    data: row.data,
    urgent: row.urgent,
    seq: Number(row.seq),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    attempts: row.attempts,
  };
  if (row.collapse_key !== null) note.collapseKey = row.collapse_key;
  return note;
}

/**
 * A dead-letter row as the inbox returns it.
 *
 * @example
 * ```ts
 * const letters = rows.map(toDeadLetter);
 * ```
 */
export function toDeadLetter(row: DeadRow): DeadLetter {
  const letter: DeadLetter = {
    id: row.id,
    userId: row.user_id,
    event: row.event,
    data: row.data,
    reason: 'dead-letter',
    attempts: row.attempts,
    urgent: row.urgent,
    deadAt: Number(row.dead_at),
  };
  if (row.collapse_key !== null) letter.collapseKey = row.collapse_key;
  return letter;
}

/**
 * Delivery order: urgent first, then store order.
 *
 * @example
 * ```ts
 * notes.sort(byDeliveryOrder);
 * ```
 */
export function byDeliveryOrder(a: InboxNotification, b: InboxNotification): number {
  if (a.urgent !== b.urgent) return a.urgent ? -1 : 1;
  return a.seq - b.seq;
}
