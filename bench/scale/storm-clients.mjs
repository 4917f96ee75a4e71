// Client process of bench/scale/hundred-k.mjs: many real TetherClients (the public client, with
// its own reconnect, backoff and room recovery), driven over IPC (lib.mjs `worker`).
//
// Client `g` connects to ws://127.0.0.<1 + g % addresses>:<port>/tether (one port shared by the
// cluster's workers), joins `user:<g>`, and every `watchEvery`-th client also joins the stream
// room, where it checks every `tick` it gets: sequence numbers must arrive once each, in order,
// with no gap. A client that leaves state `open` after `markDrops()` was on the killed node.
import { TetherClient } from '@tether/client';
import { serve } from './lib.mjs';

const clients = [];
const watchers = [];
let dropsFrom = Number.POSITIVE_INFINITY;
let stream = 'stream';

function track(entry) {
  entry.client.on('state', (state) => {
    if (state === 'open') {
      entry.opens++;
      if (entry.dropped && entry.backAt === 0) entry.backAt = Date.now();
    } else if (Date.now() >= dropsFrom && !entry.dropped) {
      entry.dropped = true;
      entry.droppedAt = Date.now();
    }
  });
}

function watch(entry, room) {
  entry.last = 0;
  entry.got = 0;
  entry.gaps = 0;
  entry.dups = 0;
  entry.recoveryFailed = 0;
  room.on('tick', (data) => {
    entry.got++;
    if (data.seq === entry.last + 1) entry.last = data.seq;
    else if (data.seq <= entry.last) entry.dups++;
    else {
      entry.gaps += data.seq - entry.last - 1;
      entry.last = data.seq;
    }
  });
  room.on('tether:rejoined', ({ recovered }) => {
    if (!recovered) entry.recoveryFailed++;
  });
  entry.client.on('tether:recovery-failed', () => entry.recoveryFailed++);
  watchers.push(entry);
}

async function openOne(g, { port, addresses, watchEvery, userRooms, timeoutMs }) {
  const client = new TetherClient(`http://127.0.0.${1 + (g % addresses)}:${port}/tether`, {
    transports: ['websocket'],
  });
  const entry = { g, client, opens: 0, dropped: false, droppedAt: 0, backAt: 0 };
  clients.push(entry);
  track(entry);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('join timed out')), timeoutMs);
  });
  try {
    const watcher = watchEvery > 0 && g % watchEvery === 0;
    if (userRooms) await Promise.race([client.join(`user:${g}`), timeout]);
    else if (!watcher) await Promise.race([opened(client), timeout]);
    if (watcher) watch(entry, await Promise.race([client.join(stream), timeout]));
    return true;
  } catch {
    // Given up on: closed, and left out of the counts (so it cannot reconnect later unseen).
    client.close();
    clients.splice(clients.indexOf(entry), 1);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when the client is open (for clients that join no room). */
const opened = (client) =>
  new Promise((resolve) => {
    if (client.state === 'open') return resolve();
    const onState = (state) => {
      if (state !== 'open') return;
      client.off('state', onState);
      resolve();
    };
    client.on('state', onState);
  });

const counts = () => {
  let open = 0;
  let dropped = 0;
  let back = 0;
  for (const e of clients) {
    if (e.client.state === 'open') open++;
    if (e.dropped) {
      dropped++;
      if (e.client.state === 'open') back++;
    }
  }
  return { total: clients.length, open, dropped, back };
};

serve({
  /** Opens clients `start`..`start + n - 1`, `concurrency` connecting at a time; resolves when all tried. */
  async connect({
    port,
    n,
    start = 0,
    addresses = 8,
    watchEvery = 50,
    userRooms = true,
    streamRoom = 'stream',
    concurrency = 100,
    timeoutMs = 60_000,
    deadlineMs = 600_000,
  }) {
    stream = streamRoom;
    const began = Date.now();
    let next = 0;
    let ok = 0;
    let failed = 0;
    const run = async () => {
      while (next < n && Date.now() - began < deadlineMs) {
        const g = start + next++;
        if (await openOne(g, { port, addresses, watchEvery, userRooms, timeoutMs })) ok++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, run));
    return { ok, failed, ms: Date.now() - began, watchers: watchers.length };
  },
  counts,
  /** From now on, a client leaving `open` is counted as dropped (it was on the killed node). */
  markDrops() {
    dropsFrom = Date.now();
    return { at: dropsFrom };
  },
  /** The stream check, for watchers that dropped (`victims`) and for all watchers. */
  verify({ lastSeq }) {
    const sum = (list) => {
      const r = {
        watchers: list.length,
        complete: 0,
        missing: 0,
        duplicates: 0,
        recoveryFailed: 0,
        behind: 0,
        // Watchers that lost or doubled messages and were never told (recovery-failed).
        unreported: 0,
      };
      for (const e of list) {
        const missing = e.gaps + Math.max(0, lastSeq - e.last);
        if (missing === 0 && e.dups === 0) r.complete++;
        r.missing += missing;
        r.duplicates += e.dups;
        r.recoveryFailed += e.recoveryFailed;
        if ((missing > 0 || e.dups > 0) && e.recoveryFailed === 0) r.unreported++;
        if (e.last < lastSeq) r.behind++;
      }
      return r;
    };
    return { victims: sum(watchers.filter((e) => e.dropped)), all: sum(watchers) };
  },
  /** How far every watcher got: the smallest `last` seen (to wait for the stream's tail). */
  lowestSeq() {
    let low = Number.POSITIVE_INFINITY;
    for (const e of watchers) low = Math.min(low, e.last);
    return { low: watchers.length ? low : null };
  },
  /** Times (ms since `since`) at which dropped clients were open again, for the "all back" figure. */
  backTimes() {
    const times = [];
    let notBack = 0;
    // The state of every client not back yet: says whether they wait in backoff, hang
    // connecting, or gave up (closed), the first thing to read when the kill phase fails.
    const notBackStates = {};
    for (const e of clients)
      if (e.dropped) {
        if (e.backAt) times.push(e.backAt);
        else {
          notBack++;
          notBackStates[e.client.state] = (notBackStates[e.client.state] ?? 0) + 1;
        }
      }
    times.sort((a, b) => a - b);
    return { count: times.length, notBack, notBackStates, first: times[0] ?? 0, last: times.at(-1) ?? 0 };
  },
  close() {
    for (const e of clients) e.client.close();
  },
});
