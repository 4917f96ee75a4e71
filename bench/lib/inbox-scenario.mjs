// The `inbox` scenario of bench/run.mjs: durable notifications on PostgreSQL, measured by
// bench/inbox.mjs in a child process (its own database, dropped at the end). Not a per-stack
// comparison: raw ws and Socket.IO have no durable inbox. Bounded: every phase of the child stops
// at --phase-seconds, and the child is killed after HARD_LIMIT_MS. Without PostgreSQL the
// scenario is reported as skipped, with the reason.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const HARD_LIMIT_MS = 180_000;

/** The child's arguments: the full configuration takes about 30 s on a 2-core machine. */
export function inboxArgs(quick) {
  return quick
    ? ['--notify', '3000', '--rows', '100000', '--phase-seconds', '15']
    : ['--notify', '20000', '--rows', '1000000', '--phase-seconds', '30'];
}

/** Runs bench/inbox.mjs; resolves to { command, figures } or { command, error }. */
export function runInbox(quick) {
  const args = [path.join(BENCH, 'inbox.mjs'), ...inboxArgs(quick)];
  const command = `node bench/inbox.mjs ${inboxArgs(quick).join(' ')}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), HARD_LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        try {
          resolve({ command, figures: JSON.parse(out) });
          return;
        } catch {}
      }
      const why = signal ? `killed (${signal}) after ${HARD_LIMIT_MS / 1000} s` : `exit ${code}`;
      resolve({ command, error: `${why}: ${(err.trim().split('\n').pop() ?? '').slice(0, 300)}` });
    });
  });
}

/** Text lines for the console and for docs/benchmarks.md. */
export function inboxLines(result) {
  if (result.error) return [`Skipped or failed (\`${result.command}\`): ${result.error}`];
  const f = result.figures;
  const lines = [
    `Command: \`${result.command}\` (PostgreSQL at 127.0.0.1:5432, a database of its own).`,
    '',
    '| measure | value |',
    '|---|---|',
    `| notifications stored per second (\`notify\`, 16 concurrent) | ${f.storedPerSecond} |`,
    `| notifications delivered per second (claim + ack, pages of 100, 16 users at a time) | ${f.deliveredPerSecond} |`,
    `| 1,000-notification backlog, claimed and acknowledged in the inbox | ${f.backlog1000?.ms} ms |`,
  ];
  if (f.reconnect1000)
    lines.push(
      `| 1,000-notification backlog to a connecting client (TetherServer, loopback): all received / all acknowledged | ${f.reconnect1000.receivedMs} ms / ${f.reconnect1000.allAckedMs} ms (${f.reconnect1000.received} received, ${f.reconnect1000.inOrder ? 'in order' : 'OUT OF ORDER'}) |`,
    );
  lines.push(
    `| ${f.bulkInsert?.rows} stored rows: table / indexes | ${f.sizeAtRows?.table} / ${f.sizeAtRows?.indexes} |`,
    `| one user's backlog at that size: \`pending\` / reconnect \`claim\` | ${f.pendingAt1M?.ms} ms / ${f.claimAt1M?.ms} ms |`,
    '',
    "Plan of a user's backlog query at that size:",
    '',
    '```',
    ...(f.backlogPlan ?? []),
    '```',
  );
  return lines;
}
