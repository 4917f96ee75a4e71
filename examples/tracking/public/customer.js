// The customer's page: watches one order. Locations come from the room `order:<id>`; status
// changes arrive as durable notifications (also those sent while this page was closed); the
// client acknowledges each once this listener returned, and the page tells the driver it showed it.

import { clock, orderFromUrl, STATUS_LABELS, STATUSES, showConnection } from '/common.js';
import { drawMap } from '/map.js';
import { TetherClient } from '/vendor/tether-client.js';

const $ = (id) => document.getElementById(id);
const order = orderFromUrl();
$('order').textContent = `#${order}`;

const client = new TetherClient(`${location.origin}/tether`, {
  auth: { role: 'customer', order },
  reconnect: { initialDelay: 500, maxDelay: 5_000 },
});
showConnection(client, $('conn'));
const map = drawMap($('map'));

let seq = -1;
/** status -> time it was reached */
const reached = new Map();
let updates = 0;
let lastLocationAt = 0;

function applyOrder(state) {
  // Pushes and snapshots can cross: keep whichever is newer.
  if (state.seq <= seq) return false;
  seq = state.seq;
  for (const change of state.changes ?? []) reached.set(change.status, change.at);
  if (state.status && !reached.has(state.status)) reached.set(state.status, state.at ?? Date.now());
  renderTimeline(state.status);
  return true;
}

function renderTimeline(current) {
  const index = STATUSES.indexOf(current);
  $('headline').textContent = STATUS_LABELS[current] ?? current;
  $('timeline').replaceChildren(
    ...STATUSES.map((status, i) => {
      const li = document.createElement('li');
      li.dataset.status = status;
      li.className = i < index ? 'done' : i === index ? 'current' : 'todo';
      li.textContent = STATUS_LABELS[status];
      if (reached.has(status)) {
        const time = document.createElement('time');
        time.textContent = clock.format(reached.get(status));
        li.append(' ', time);
      }
      return li;
    }),
  );
}

function toast(text) {
  const box = $('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    box.hidden = true;
  }, 4_000);
}

// A status notification: delivered until this listener has run without throwing.
client.on('order:status', (change) => {
  if (applyOrder({ seq: change.seq, status: change.status, at: change.at }))
    toast(STATUS_LABELS[change.status]);
  client.emit('order:seen', { seq: change.seq, status: change.status });
});

async function refresh() {
  const snapshot = await client.request('order:get', undefined, { timeout: 5_000, retries: 2 });
  applyOrder(snapshot);
  if (snapshot.location && snapshot.location.at > lastLocationAt) showLocation(snapshot.location);
}

function showLocation(location) {
  lastLocationAt = location.at;
  map.moveTo(location);
}

renderTimeline('placed');
const room = await client.join(`order:${order}`);
room.on('location', (location) => {
  updates++;
  $('updates').textContent = String(updates);
  showLocation(location);
});
room.on('tether:rejoined', ({ recovered }) => {
  // History did not reach back (or the server restarted): read the order again.
  if (!recovered) void refresh();
});
await refresh();

setInterval(() => {
  $('last-update').textContent = lastLocationAt
    ? `${Math.round((Date.now() - lastLocationAt) / 1000)} s ago`
    : 'never';
}, 1_000);
