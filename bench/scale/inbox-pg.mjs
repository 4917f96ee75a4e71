#!/usr/bin/env node
// What durable notifications cost PostgreSQL: the write pattern of an inbox table (store a
// notification, read a user's pending ones, delete it on acknowledgement) run by pgbench (C, so
// the client costs little) against the machine's PostgreSQL, in a database of its own.
//
//   node bench/scale/inbox-pg.mjs [--url postgres://postgres@127.0.0.1:5432] [--clients 8]
//                                 [--seconds 10] [--pending 200000] [--users 1000000] [--json FILE]
//
// The table is a model (a user, an id, the event, ~320 bytes of JSON data, an expiry), not the
// schema of a particular inbox implementation: the figures size the database in docs/scaling.md.
// One transaction = one notification's life while its user is online: INSERT, SELECT the user's
// pending ones (what a connect or a redelivery reads), DELETE on ack. `pending` rows stand for the
// notifications of offline users waiting in the table. The database is dropped at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { args, fmt } from './lib.mjs';

const opts = args({
  url: 'postgres://postgres@127.0.0.1:5432',
  clients: 8,
  seconds: 10,
  pending: 200_000,
  users: 1_000_000,
  json: '',
});
const db = `tether_bench_inbox_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'tether-inbox-'));

function psql(database, sql) {
  const r = spawnSync('psql', [`${opts.url}/${database}`, '-v', 'ON_ERROR_STOP=1', '-tA', '-c', sql], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.trim();
}

const data = JSON.stringify({
  kind: 'like',
  title: 'x'.repeat(40),
  body: 'x'.repeat(180),
  url: 'x'.repeat(40),
});
const script = `\\set u random(1, ${opts.users})
BEGIN;
INSERT INTO inbox (user_id, id, event, data, expires_at)
  VALUES (:u, md5(random()::text), 'notification', '${data}', now() + interval '7 days') RETURNING seq \\gset
COMMIT;
SELECT seq, id, event, data FROM inbox WHERE user_id = :u AND expires_at > now() ORDER BY seq LIMIT 100;
DELETE FROM inbox WHERE user_id = :u AND seq = :seq;
`;

let result;
try {
  psql('postgres', `CREATE DATABASE ${db}`);
  psql(
    db,
    `CREATE TABLE inbox (seq bigserial PRIMARY KEY, user_id bigint NOT NULL, id text NOT NULL,
       event text NOT NULL, data jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
       expires_at timestamptz NOT NULL, UNIQUE (user_id, id));
     CREATE INDEX inbox_user ON inbox (user_id, seq);
     INSERT INTO inbox (user_id, id, event, data, expires_at)
       SELECT (random() * ${opts.users})::bigint, md5(g::text), 'notification', '${data}', now() + interval '7 days'
       FROM generate_series(1, ${opts.pending}) g;`,
  );
  psql(db, 'VACUUM ANALYZE inbox');
  const bytes = Number(psql(db, "SELECT pg_total_relation_size('inbox')"));
  const file = join(dir, 'inbox.sql');
  writeFileSync(file, script);
  const bench = spawnSync(
    'pgbench',
    [
      '-n',
      '-f',
      file,
      '-c',
      String(opts.clients),
      '-j',
      '2',
      '-T',
      String(opts.seconds),
      `${opts.url}/${db}`,
    ],
    { encoding: 'utf8', timeout: (opts.seconds + 60) * 1000 },
  );
  if (bench.status !== 0) throw new Error(`pgbench: ${bench.stderr}${bench.stdout}`);
  const tps = Number(/tps = ([\d.]+)/.exec(bench.stdout)?.[1]);
  const latency = Number(/latency average = ([\d.]+) ms/.exec(bench.stdout)?.[1]);
  result = {
    clients: opts.clients,
    seconds: opts.seconds,
    pendingRows: opts.pending,
    bytesPerPendingRow: bytes / opts.pending,
    notificationsPerSec: tps,
    latencyMs: latency,
  };
  console.log(`
PostgreSQL inbox model (pgbench, ${opts.clients} clients, ${opts.seconds} s; insert + read pending + delete on ack, synchronous commit)
  notifications/s      ${fmt(tps)} (average ${fmt(latency, 2)} ms per notification's three statements)
  table + indexes      ${fmt(bytes / opts.pending)} B per pending notification (${fmt(opts.pending)} rows)
`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2));
} finally {
  spawnSync('psql', [`${opts.url}/postgres`, '-c', `DROP DATABASE IF EXISTS ${db}`], { timeout: 60_000 });
  rmSync(dir, { recursive: true, force: true });
}
