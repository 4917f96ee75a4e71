// The driver's page: drives a simulated route, sends a location every 500 ms, and moves the order
// through its statuses with acked requests.

import { clock, orderFromUrl, STATUS_LABELS, STATUSES, showConnection } from '/common.js';
import { alongRoute, drawMap, ROUTE_LENGTH, toLatLng } from '/map.js';
import { TetherClient } from '/vendor/tether-client.js';

const TICK_MS = 500;
// The whole route in 60 steps (about 30 s); `?steps=20` drives it faster.
const STEPS = Math.max(2, Number(new URLSearchParams(location.search).get('steps')) || 60);

const $ = (id) => document.getElementById(id);
const order = orderFromUrl();
$('order').textContent = `#${order}`;
$('customer-link').href = `/customer.html?order=${order}`;

const client = new TetherClient(`${location.origin}/tether`, {
  auth: { role: 'driver', order },
  reconnect: { initialDelay: 500, maxDelay: 5_000 },
});
showConnection(client, $('conn'));

const map = drawMap($('map'));
/** status -> { state: 'idle' | 'sending' | 'saved' | 'failed', at, seen, error } */
const statusView = new Map(STATUSES.map((s) => [s, { state: 'idle' }]));
let current = 'placed';

// ---- route ------------------------------------------------------------------------------------

let distance = 0;
let sent = 0;
let timer;

function step() {
  const { point, heading, done } = alongRoute(distance);
  const location = { ...toLatLng(point), heading, progress: Math.min(1, distance / ROUTE_LENGTH) };
  map.moveTo(location);
  // Volatile: while offline, old positions are dropped instead of queued; only fresh ones matter.
  if (client.emit('location', location, { volatile: true })) sent++;
  $('sent').textContent = String(sent);
  $('progress').textContent = `${Math.round(location.progress * 100)}%`;
  distance += ROUTE_LENGTH / STEPS;
  if (done) stop('Route done');
}

function drive() {
  if (timer) return stop('Resume route');
  if (distance > ROUTE_LENGTH) distance = 0;
  timer = setInterval(step, TICK_MS);
  step();
  $('drive').textContent = 'Pause';
}

function stop(label) {
  clearInterval(timer);
  timer = undefined;
  $('drive').textContent = label;
}

$('drive').addEventListener('click', drive);

// ---- statuses ---------------------------------------------------------------------------------

async function setStatus(status) {
  const view = statusView.get(status);
  view.state = 'sending';
  view.error = '';
  render();
  try {
    const reply = await client.request('order:status', { status }, { timeout: 4_000, retries: 4 });
    view.state = 'saved';
    view.seq = reply.seq;
    view.at = Date.now();
    current = status;
  } catch (err) {
    view.state = 'failed';
    view.error = err.message;
  }
  render();
}

function render() {
  const items = STATUSES.map((status, index) => {
    const view = statusView.get(status);
    const li = document.createElement('li');
    li.dataset.status = status;
    li.dataset.state = status === 'placed' || index <= STATUSES.indexOf(current) ? 'done' : view.state;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = STATUS_LABELS[status];
    li.append(label);
    const note = document.createElement('span');
    note.className = 'note';
    if (view.state === 'sending') note.textContent = 'sending…';
    else if (view.state === 'failed') note.textContent = `failed: ${view.error}`;
    else if (view.state === 'saved') note.textContent = `saved ${clock.format(view.at)}`;
    li.append(note);
    if (view.seen) {
      const seen = document.createElement('span');
      seen.className = 'seen';
      seen.textContent = '✓ seen by customer';
      li.append(seen);
    }
    const next = STATUSES.indexOf(current) + 1 === index;
    if (next || view.state === 'failed') {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = view.state === 'failed' ? 'retry' : `Mark ${STATUS_LABELS[status].toLowerCase()}`;
      button.disabled = view.state === 'sending';
      button.addEventListener('click', () => setStatus(status));
      li.append(button);
    }
    return li;
  });
  $('statuses').replaceChildren(...items);
}

// The driver is in the order's room too: the customer's acks come back there as `seen`.
const room = await client.join(`order:${order}`);
room.on('seen', ({ status }) => {
  const view = statusView.get(status);
  if (view) view.seen = true;
  render();
});

const snapshot = await client.request('order:get', undefined, { timeout: 5_000, retries: 2 });
current = snapshot.status;
for (const change of snapshot.changes) {
  const view = statusView.get(change.status);
  if (view) Object.assign(view, { state: 'saved', at: change.at });
}
if (snapshot.location) {
  map.moveTo(snapshot.location);
  distance = (snapshot.location.progress ?? 0) * ROUTE_LENGTH;
}
render();
