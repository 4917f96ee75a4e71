import type { Pool } from 'pg';

/**
 * The inbox's tables, versioned. A migration is never edited once released: changes go in a new
 * one. Each runs in the transaction that records it in `<schema>.inbox_migrations`, under an
 * advisory lock, so nodes starting at once apply each migration exactly once.
 *
 * Layout (version 2: `claimed_by` on notifications, the `inbox_claim` function), times in ms since the epoch on the database's clock:
 *
 * | table                 | one row per                        | read by                                      |
 * |-----------------------|------------------------------------|----------------------------------------------|
 * | `inbox_notifications` | pending notification               | backlog `(user_id, urgent DESC, seq)`, expiry `(expires_at)`, offline `(created_at) WHERE NOT offline_claimed`, safety poll `(seq)` |
 * | `inbox_dead_letters`  | dead letter                        | `(user_id, dead_at, id)`, `(dead_at, id)`, retention `(forget_at)` |
 * | `inbox_remembered`    | acknowledged or expired id         | primary key on notify; retention `(forget_at)` |
 * | `inbox_migrations`    | applied migration                  | startup                                      |
 *
 * `inbox_notify` and `inbox_redrive` are functions so that one round trip takes the user's
 * advisory lock (which orders a user's notifications by commit, even inside long app
 * transactions), inserts and sends the wakeup (`pg_notify`, delivered only on commit).
 */
interface Migration {
  version: number;
  name: string;
  sql(schema: string, channel: string): string;
}

/** The name of a schema or table, quoted for SQL. Only plain lower-case names are accepted. */
export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,49}$/.test(name))
    throw new TypeError(`schema must match /^[a-z_][a-z0-9_]{0,49}$/: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'inbox tables',
    sql: (s, channel) => `
CREATE SEQUENCE ${s}.inbox_seq;

CREATE FUNCTION ${s}.inbox_now() RETURNS bigint LANGUAGE sql STABLE
  AS $f$ SELECT (extract(epoch FROM statement_timestamp()) * 1000)::bigint $f$;

CREATE TABLE ${s}.inbox_notifications (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  seq bigint NOT NULL,
  urgent boolean NOT NULL,
  event text NOT NULL,
  data jsonb NOT NULL,
  collapse_key text,
  ttl_ms bigint NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint,
  offline_claimed boolean NOT NULL DEFAULT false
);
CREATE INDEX inbox_notifications_backlog ON ${s}.inbox_notifications (user_id, urgent DESC, seq);
CREATE INDEX inbox_notifications_expiry ON ${s}.inbox_notifications (expires_at);
CREATE INDEX inbox_notifications_offline ON ${s}.inbox_notifications (created_at) WHERE NOT offline_claimed;
CREATE UNIQUE INDEX inbox_notifications_seq ON ${s}.inbox_notifications (seq);

CREATE TABLE ${s}.inbox_dead_letters (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  urgent boolean NOT NULL,
  event text NOT NULL,
  data jsonb NOT NULL,
  collapse_key text,
  ttl_ms bigint NOT NULL,
  attempts integer NOT NULL,
  dead_at bigint NOT NULL,
  forget_at bigint NOT NULL
);
CREATE INDEX inbox_dead_letters_user ON ${s}.inbox_dead_letters (user_id, dead_at, id);
CREATE INDEX inbox_dead_letters_time ON ${s}.inbox_dead_letters (dead_at, id);
CREATE INDEX inbox_dead_letters_forget ON ${s}.inbox_dead_letters (forget_at);

CREATE TABLE ${s}.inbox_remembered (
  id text PRIMARY KEY,
  forget_at bigint NOT NULL
);
CREATE INDEX inbox_remembered_forget ON ${s}.inbox_remembered (forget_at);

CREATE FUNCTION ${s}.inbox_notify(
  p_id text, p_user text, p_event text, p_data jsonb, p_ttl bigint, p_urgent boolean, p_collapse text
) RETURNS text[] LANGUAGE plpgsql AS $f$
DECLARE
  v_now bigint := ${s}.inbox_now();
  v_replaced text[] := '{}';
BEGIN
  -- One writer per user at a time, until commit: store order is commit order for that user.
  PERFORM pg_advisory_xact_lock(hashtext(${literal(`${channel}`)}), hashtext(p_user));
  IF EXISTS (SELECT 1 FROM ${s}.inbox_dead_letters WHERE id = p_id)
     OR EXISTS (SELECT 1 FROM ${s}.inbox_remembered WHERE id = p_id AND forget_at > v_now) THEN
    RETURN NULL;
  END IF;
  INSERT INTO ${s}.inbox_notifications
    (id, user_id, seq, urgent, event, data, collapse_key, ttl_ms, created_at, expires_at)
  VALUES (p_id, p_user, nextval(${literal(`${s}.inbox_seq`)}), p_urgent, p_event, p_data, p_collapse, p_ttl,
          v_now, v_now + p_ttl)
  ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF p_collapse IS NOT NULL THEN
    WITH gone AS (
      DELETE FROM ${s}.inbox_notifications
      WHERE user_id = p_user AND collapse_key = p_collapse AND attempts = 0 AND id <> p_id
      RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') INTO v_replaced FROM gone;
  END IF;
  PERFORM pg_notify(${literal(channel)}, p_user);
  RETURN v_replaced;
END
$f$;

CREATE FUNCTION ${s}.inbox_redrive(p_id text) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
  v_now bigint := ${s}.inbox_now();
  d ${s}.inbox_dead_letters;
BEGIN
  DELETE FROM ${s}.inbox_dead_letters WHERE id = p_id AND forget_at > v_now RETURNING * INTO d;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext(${literal(`${channel}`)}), hashtext(d.user_id));
  INSERT INTO ${s}.inbox_notifications
    (id, user_id, seq, urgent, event, data, collapse_key, ttl_ms, created_at, expires_at)
  VALUES (d.id, d.user_id, nextval(${literal(`${s}.inbox_seq`)}), d.urgent, d.event, d.data, d.collapse_key,
          d.ttl_ms, v_now, v_now + d.ttl_ms);
  PERFORM pg_notify(${literal(channel)}, d.user_id);
  RETURN true;
END
$f$;
`,
  },
  {
    version: 2,
    name: 'claims keep delivery order across claimers',
    sql: (s, channel) => `
ALTER TABLE ${s}.inbox_notifications ADD COLUMN claimed_by text;

-- One claim of one user: walks the user's backlog in delivery order (one index range), counts
-- attempts, buries dead letters, and stops at the first notification another claimer holds in
-- flight (resend: takes those over instead). Claims of one user run one at a time (their own
-- advisory lock, not notify's, which an app transaction may hold until it commits).
CREATE FUNCTION ${s}.inbox_claim(
  p_user text, p_claimer text, p_max integer, p_retry bigint, p_limit integer, p_dead_ttl bigint, p_resend boolean
) RETURNS TABLE (
  kind text, id text, user_id text, seq bigint, urgent boolean, event text, data jsonb, collapse_key text,
  created_at bigint, expires_at bigint, attempts integer, dead_at bigint
) LANGUAGE plpgsql AS $f$
DECLARE
  v_now bigint := ${s}.inbox_now();
  v_sent integer := 0;
  r ${s}.inbox_notifications;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(${literal(`${channel}:claim`)}), hashtext(p_user));
  FOR r IN
    SELECT * FROM ${s}.inbox_notifications n
    WHERE n.user_id = p_user AND n.expires_at > v_now
    ORDER BY n.urgent DESC, n.seq
  LOOP
    EXIT WHEN v_sent >= p_limit;
    IF r.next_attempt_at IS NOT NULL AND r.next_attempt_at > v_now THEN
      IF p_resend THEN
        UPDATE ${s}.inbox_notifications n SET claimed_by = p_claimer, next_attempt_at = v_now + p_retry
        WHERE n.id = r.id;
        RETURN QUERY SELECT 'sent', r.id, r.user_id, r.seq, r.urgent, r.event, r.data, r.collapse_key,
          r.created_at, r.expires_at, r.attempts, 0::bigint;
        v_sent := v_sent + 1;
      ELSIF r.claimed_by IS DISTINCT FROM p_claimer THEN
        EXIT;
      END IF;
    ELSIF r.attempts >= p_max THEN
      DELETE FROM ${s}.inbox_notifications n WHERE n.id = r.id;
      INSERT INTO ${s}.inbox_dead_letters
        (id, user_id, urgent, event, data, collapse_key, ttl_ms, attempts, dead_at, forget_at)
      VALUES (r.id, r.user_id, r.urgent, r.event, r.data, r.collapse_key, r.ttl_ms, r.attempts, v_now,
              v_now + p_dead_ttl);
      RETURN QUERY SELECT 'dead', r.id, r.user_id, 0::bigint, r.urgent, r.event, r.data, r.collapse_key,
        0::bigint, 0::bigint, r.attempts, v_now;
    ELSE
      UPDATE ${s}.inbox_notifications n
      SET attempts = n.attempts + 1, next_attempt_at = v_now + p_retry, claimed_by = p_claimer
      WHERE n.id = r.id;
      RETURN QUERY SELECT 'sent', r.id, r.user_id, r.seq, r.urgent, r.event, r.data, r.collapse_key,
        r.created_at, r.expires_at, r.attempts + 1, 0::bigint;
      v_sent := v_sent + 1;
    END IF;
  END LOOP;
END
$f$;
`,
  },
];

/** The latest migration version this release knows. */
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Creates the schema and applies every missing migration, in one transaction under an advisory
 * lock keyed by the schema: a second node starting at the same time waits, then finds nothing
 * left to do. Resolves to the versions it applied.
 *
 * @example
 * ```ts
 * await migrate(pool, 'tether', 'tether.inbox');
 * ```
 */
export async function migrate(pool: Pool, schema: string, channel: string): Promise<number[]> {
  const s = quoteIdent(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('tether.inbox.migrate'), hashtext($1))", [
      schema,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.inbox_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.inbox_migrations`);
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(s, channel));
      await client.query(`INSERT INTO ${s}.inbox_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
