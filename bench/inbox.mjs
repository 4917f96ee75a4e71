// Inbox on PostgreSQL: notifications stored per second, delivered (claimed + acknowledged) per
// second, the time to fetch-and-ack one user's 1,000-notification backlog (in the inbox, and end
// to end: a client connecting to a TetherServer), and the plan of a user's backlog query with
// 1 million stored rows.
//
//   pnpm build && node bench/inbox.mjs [--notify 20000] [--users 200] [--rows 1000000] [--concurrency 16]
//
// Needs PostgreSQL (TETHER_BENCH_PG, default postgres://postgres@127.0.0.1:5432). Creates a
// database of its own and drops it at the end. Every phase is bounded in count and in time.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { PostgresInbox } from '../packages/postgres/dist/index.js';

// pg is a dependency of @tether/postgres; load the same copy it uses.
const pg = createRequire(new URL('../packages/postgres/package.json', import.meta.url))('pg');

const { values: args } = parseArgs({
  options: {
    notify: { type: 'string', default: '20000' },
    users: { type: 'string', default: '200' },
    rows: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '16' },
    'phase-seconds': { type: 'string', default: '60' },
  },
});
const NOTIFY = Number(args.notify);
const USERS = Number(args.users);
const ROWS = Number(args.rows);
const CONCURRENCY = Number(args.concurrency);
const PHASE_MS = Number(args['phase-seconds']) * 1000;
const SERVER = process.env.TETHER_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432';
const CLAIM = { maxAttempts: 3, retryAfterMs: 60_000, limit: 100 };

const admin = async (sql) => {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
};

/** Runs `task(i)` for i in [0, count) with `CONCURRENCY` workers; stops early at the deadline. */
async function pool(count, task) {
  const deadline = Date.now() + PHASE_MS;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      await task(i);
      done += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done;
}

/** A TetherServer with its own PostgresInbox; one client of a user with 1,000 waiting notifications. */
async function reconnectBacklog(url) {
  const { TetherServer } = await import('@tether/server');
  const { TetherClient } = await import('@tether/client');
  const serverInbox = new PostgresInbox({ connectionString: url, schema: 'tether' });
  const http = createServer();
  const tether = new TetherServer({ server: http, inbox: serverInbox, authenticate: (_req, auth) => auth });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const user = 'reconnect-user';
  try {
    await pool(1000, (i) => inbox.notify(user, 'feed', { i }, { id: `r1k-${i}` }));
    // Stored concurrently: the store's order (what delivery must keep) is not i's order.
    const expected = (await inbox.pending(user, { limit: 1000 })).map((n) => n.data.i);
    let got = 0;
    let inOrder = true;
    const start = performance.now();
    const client = new TetherClient(`ws://127.0.0.1:${http.address().port}/tether`, {
      auth: { userId: user },
    });
    client.on('feed', (data) => {
      if (data.i !== expected[got]) inOrder = false;
      got += 1;
    });
    const deadline = Date.now() + PHASE_MS;
    while (got < 1000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    const receivedMs = performance.now() - start;
    while ((await inbox.pending(user, { limit: 1 })).length > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const ackedMs = performance.now() - start;
    client.close();
    return { received: got, inOrder, receivedMs: Math.round(receivedMs), allAckedMs: Math.round(ackedMs) };
  } finally {
    await tether.close();
    await new Promise((resolve) => http.close(resolve));
    await serverInbox.close();
  }
}

const database = `tether_bench_${randomBytes(5).toString('hex')}`;
await admin(`CREATE DATABASE ${database}`);
const url = `${SERVER}/${database}`;
const inbox = new PostgresInbox({ connectionString: url, schema: 'tether' });
const results = {};
try {
  await inbox.ready();

  // 1. Store: NOTIFY notifications spread over USERS users, CONCURRENCY at a time.
  let start = performance.now();
  const stored = await pool(NOTIFY, (i) =>
    inbox.notify(`user-${i % USERS}`, 'order:status', { order: i, state: 'picked-up' }, { id: `n-${i}` }),
  );
  let seconds = (performance.now() - start) / 1000;
  results.stored = stored;
  results.storedPerSecond = Math.round(stored / seconds);

  // 2. Deliver: each user's backlog claimed in pages of 100 and acknowledged, users in parallel.
  start = performance.now();
  let delivered = 0;
  await pool(USERS, async (u) => {
    const user = `user-${u}`;
    for (let page = 0; page < 1000; page += 1) {
      const { deliver } = await inbox.claim(user, CLAIM);
      if (deliver.length === 0) break;
      // Read the count first: `x += await y` would add to a stale x read before the await.
      const acked = await inbox.ack(
        user,
        deliver.map((n) => n.id),
      );
      delivered += acked;
    }
  });
  seconds = (performance.now() - start) / 1000;
  results.delivered = delivered;
  results.deliveredPerSecond = Math.round(delivered / seconds);

  // 3. One user's 1,000-notification backlog, fetched and acknowledged in pages of 100.
  await pool(1000, (i) => inbox.notify('backlog-user', 'feed', { i }, { id: `b-${i}` }));
  start = performance.now();
  let drained = 0;
  for (let page = 0; page < 100; page += 1) {
    const { deliver } = await inbox.claim('backlog-user', CLAIM);
    if (deliver.length === 0) break;
    const acked = await inbox.ack(
      'backlog-user',
      deliver.map((n) => n.id),
    );
    drained += acked;
  }
  results.backlog1000 = { drained, ms: Math.round(performance.now() - start) };

  // 3b. The same backlog end to end: a user with 1,000 notifications waiting connects to a
  // TetherServer over loopback; from the connect call until its listener ran 1,000 times and
  // every acknowledgement is stored (the inbox holds none of them any more).
  results.reconnect1000 = await reconnectBacklog(url);

  // 4. ROWS stored rows (10 per user), then the plan of one user's backlog query.
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('SET statement_timeout = 300000');
    start = performance.now();
    await db.query(
      `INSERT INTO tether.inbox_notifications (id, user_id, seq, urgent, event, data, ttl_ms, created_at, expires_at)
       SELECT 'r-' || i, 'u-' || (i % $1), nextval('tether.inbox_seq'), i % 20 = 0, 'order:status',
              jsonb_build_object('order', i), 604800000, tether.inbox_now(), tether.inbox_now() + 604800000
       FROM generate_series(1, $2) AS i`,
      [Math.max(1, Math.floor(ROWS / 10)), ROWS],
    );
    results.bulkInsert = { rows: ROWS, seconds: Math.round((performance.now() - start) / 100) / 10 };
    await db.query('VACUUM ANALYZE tether.inbox_notifications');
    const { rows: plan } = await db.query(
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
       SELECT id, user_id, seq, urgent, event, data, collapse_key, created_at, expires_at, attempts
       FROM tether.inbox_notifications WHERE user_id = 'u-4242' AND expires_at > tether.inbox_now()
       ORDER BY urgent DESC, seq LIMIT 100`,
    );
    results.backlogPlan = plan.map((row) => row['QUERY PLAN']);
    const { rows: sizes } = await db.query(
      `SELECT pg_size_pretty(pg_table_size('tether.inbox_notifications')) AS table,
              pg_size_pretty(pg_indexes_size('tether.inbox_notifications')) AS indexes,
              (SELECT count(*) FROM tether.inbox_notifications) AS rows`,
    );
    results.sizeAtRows = sizes[0];
    start = performance.now();
    const pending = await inbox.pending('u-4242');
    results.pendingAt1M = {
      notifications: pending.length,
      ms: Math.round((performance.now() - start) * 10) / 10,
    };
    // The claim a reconnecting user's node makes (inbox_claim walks the same index range).
    start = performance.now();
    const claim = await inbox.claim('u-4242', { ...CLAIM, claimer: 'bench', resend: true });
    results.claimAt1M = {
      notifications: claim.deliver.length,
      ms: Math.round((performance.now() - start) * 10) / 10,
    };
  } finally {
    await db.end();
  }
} finally {
  await inbox.close();
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
}

console.log(JSON.stringify(results, null, 2));
