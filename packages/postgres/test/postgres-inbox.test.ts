import { type RecordingListener, recordingListener, trackHandles, waitFor } from '@tether/test-utils';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresInbox, type PostgresInboxOptions } from '../src/postgres-inbox.js';
import { createTestDatabase, type TestDatabase, uniqueSchema } from './database.js';

let db: TestDatabase;
let admin: pg.Pool;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

const openInbox = async (options: Partial<PostgresInboxOptions> = {}) => {
  const inbox = new PostgresInbox({ connectionString: db.url, schema: uniqueSchema(), ...options });
  cleanups.push(() => inbox.close());
  await inbox.ready();
  return inbox;
};

const listen = async (inbox: PostgresInbox) => {
  const rec: RecordingListener & { resyncs: number } = { ...recordingListener(), resyncs: 0 };
  const sub = await inbox.subscribe({ ...rec.listener, onResync: () => (rec.resyncs += 1) });
  cleanups.push(() => sub.unsubscribe());
  return rec;
};

describe('PostgresInbox', () => {
  it('migrates once when two nodes start at the same time', async () => {
    const schema = uniqueSchema();
    const nodes = [0, 1, 2].map(() => new PostgresInbox({ connectionString: db.url, schema }));
    for (const node of nodes) cleanups.push(() => node.close());
    await Promise.all(nodes.map((node) => node.ready()));
    const { rows } = await admin.query(`SELECT version FROM ${schema}.inbox_migrations ORDER BY version`);
    expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
    await nodes[0]?.notify('u', 'e', 1, { id: 'a' });
    expect((await nodes[2]?.pending('u'))?.map((n) => n.id)).toEqual(['a']);
  });

  it("stores with the app's client only when its transaction commits", async () => {
    const writer = await openInbox();
    const reader = await openInbox({ schema: writer.schema });
    const rec = await listen(reader);
    const client = await admin.connect();
    cleanups.push(async () => client.release());

    await client.query('BEGIN');
    const rolled = await writer.notify(client, 'rolled', 'e', { n: 1 }, { id: 'r1' });
    expect(rolled.stored).toBe(true);
    await client.query('ROLLBACK');

    await client.query('BEGIN');
    await client.query('SELECT 1');
    await writer.notify(client, 'committed', 'e', { n: 2 }, { id: 'c1' });
    // Not visible to others before the commit.
    expect(await reader.pending('committed')).toEqual([]);
    await client.query('COMMIT');

    await waitFor(() => rec.stored.includes('committed'));
    expect((await reader.pending('committed')).map((n) => n.id)).toEqual(['c1']);
    expect(await reader.pending('rolled')).toEqual([]);
    expect(rec.stored).not.toContain('rolled');
    // The rolled-back id was never stored, so it may be used again.
    expect((await writer.notify('rolled', 'e', 1, { id: 'r1' })).stored).toBe(true);
  });

  it('LISTENs again after its connection is terminated, and asks for a resync', async () => {
    const node = await openInbox({ pollIntervalMs: 3_600_000 });
    const other = await openInbox({ schema: node.schema });
    const rec = await listen(node);
    const pid = node.listenerPid;
    expect(pid).toBeTypeOf('number');
    const { rows } = await admin.query('SELECT pg_terminate_backend($1) AS done', [pid]);
    expect(rows[0]?.done).toBe(true);
    await waitFor(() => rec.resyncs === 1 && node.listenerPid !== undefined && node.listenerPid !== pid, {
      timeout: 10_000,
    });
    expect(rec.errors.length).toBeGreaterThan(0);
    await other.notify('after-cut', 'e', 1);
    await waitFor(() => rec.stored.includes('after-cut'));
  });

  it('catches up by the safety poll when a wakeup is missed', async () => {
    const node = await openInbox({ pollIntervalMs: 100 });
    const rec = await listen(node);
    // Written with no pg_notify at all, as if the wakeup had been lost.
    const s = node.schema;
    await admin.query(
      `INSERT INTO ${s}.inbox_notifications (id, user_id, seq, urgent, event, data, ttl_ms, created_at, expires_at)
       VALUES ('quiet', 'quiet-user', nextval('${s}.inbox_seq'), false, 'e', '1', 60000, 0, ${s}.inbox_now() + 60000)`,
    );
    await waitFor(() => rec.stored.includes('quiet-user'));
  });

  it('sweeps expired rows in bounded batches and reports each once', async () => {
    const node = await openInbox({ sweepIntervalMs: 3_600_000, sweepBatchSize: 100 });
    const rec = await listen(node);
    const s = node.schema;
    await admin.query(
      `INSERT INTO ${s}.inbox_notifications (id, user_id, seq, urgent, event, data, ttl_ms, created_at, expires_at)
       SELECT 'x' || i, 'u' || (i % 7), nextval('${s}.inbox_seq'), false, 'e', to_jsonb(i), 1, 0, 1
       FROM generate_series(1, 450) AS i`,
    );
    await node.sweep();
    expect(rec.expired).toHaveLength(450);
    expect(new Set(rec.expired.map((n) => n.id)).size).toBe(450);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${s}.inbox_notifications`);
    expect(rows[0]?.n).toBe(0);
    expect((await node.notify('u1', 'e', 1, { id: 'x1' })).stored).toBe(false);
  });

  it('leaves no socket or timer behind after close, even while subscribed', async () => {
    const handles = trackHandles();
    const inbox = new PostgresInbox({
      connectionString: db.url,
      schema: uniqueSchema(),
      sweepIntervalMs: 50,
    });
    await inbox.subscribe({ onStored: () => undefined });
    await inbox.notify('u', 'e', 1);
    await inbox.close();
    await handles.check(5000);
  });

  it("reads a user's backlog as one range of the backlog index (EXPLAIN)", async () => {
    const node = await openInbox();
    const s = node.schema;
    await admin.query(
      `INSERT INTO ${s}.inbox_notifications (id, user_id, seq, urgent, event, data, ttl_ms, created_at, expires_at)
       SELECT 'n' || i, 'user-' || (i % 2000), nextval('${s}.inbox_seq'), i % 10 = 0, 'e', '{}', 1e9, 0, 1e13
       FROM generate_series(1, 40000) AS i`,
    );
    // One user with a long backlog: the first page is read in index order, with no sort.
    await admin.query(
      `INSERT INTO ${s}.inbox_notifications (id, user_id, seq, urgent, event, data, ttl_ms, created_at, expires_at)
       SELECT 'h' || i, 'heavy', nextval('${s}.inbox_seq'), false, 'e', '{}', 1e9, 0, 1e13
       FROM generate_series(1, 5000) AS i`,
    );
    await admin.query(`ANALYZE ${s}.inbox_notifications`);
    const explain = async (user: string) => {
      const { rows } = await admin.query(
        `EXPLAIN SELECT id FROM ${s}.inbox_notifications WHERE user_id = $1 AND expires_at > ${s}.inbox_now()
         ORDER BY urgent DESC, seq LIMIT 100`,
        [user],
      );
      return rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
    };
    // A short backlog: one range of the backlog index (the planner may sort its 20 rows itself).
    const short = await explain('user-7');
    expect(short).toMatch(
      /Index Scan on inbox_notifications_backlog|Index Scan using inbox_notifications_backlog/,
    );
    expect(short).toContain('Index Cond: (user_id = ');
    expect(short).not.toContain('Seq Scan');
    const long = await explain('heavy');
    expect(long).toContain('Index Scan using inbox_notifications_backlog');
    expect(long).toContain('Index Cond: (user_id = ');
    expect(long).not.toContain('Sort');
    const backlog = await node.pending('user-7', { limit: 1000 });
    expect(backlog).toHaveLength(20);
    const seqs = backlog.map((n) => n.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});
