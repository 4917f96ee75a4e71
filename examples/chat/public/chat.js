// The chat page: plain DOM, no framework, no bundler. Everything real-time goes through one
// TetherClient; the page only keeps what it shows.
import { TetherClient } from '/vendor/tether-client.js';

const DEFAULT_ROOMS = ['general', 'random', 'help'];
const TYPING_SHOWN_MS = 3_000;
const TYPING_EVERY_MS = 1_500;
// Presence changes arrive as events; asking now and then as well repairs anything missed meanwhile.
const PRESENCE_EVERY_MS = 5_000;

const $ = (id) => document.getElementById(id);

/** Creates an element: `h('li', { class: 'msg' }, 'text', child)`. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** A message id of our own: the server publishes a message once per id, however often it is sent. */
function newMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** This tab's id for the network-drop demo: the server cuts the sockets that carry it. */
function visitorId() {
  let id = sessionStorage.getItem('chat:visitor');
  if (!id) {
    id = newMessageId();
    sessionStorage.setItem('chat:visitor', id);
  }
  return id;
}

function slugOf(input) {
  return input
    .trim()
    .toLowerCase()
    .replace(/^#/, '')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

// ---- state ------------------------------------------------------------------------------------

let client;
let myName = '';
let active = '';
let wasOpen = false;
/** The running "simulate a network drop": when it began and the states seen since. */
let drop;
/** slug -> everything the page knows about a room it joined. */
const views = new Map();

function createView(slug) {
  return {
    slug,
    room: `chat:${slug}`,
    handle: undefined,
    /** History lineages in the order seen: after a server lost its history, older messages sort first. */
    epochs: [],
    /** `${epoch}:${offset}` -> message the server published. */
    confirmed: new Map(),
    /** message id -> message sent from this page and not yet seen back from the room. */
    pending: new Map(),
    unread: 0,
    /** The last message seen before the connection dropped: the "new since you went offline" line follows it. */
    awayAfter: undefined,
    /** Who is typing here (name -> timer that hides it), and when this page last said it was. */
    typing: new Map(),
    typingSentAt: 0,
    members: [],
    notice: '',
  };
}

// ---- connection -------------------------------------------------------------------------------

function start(name) {
  myName = name;
  sessionStorage.setItem('chat:name', name);
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  $('drop').hidden = false;
  $('me').textContent = name;

  client = new TetherClient(`${location.origin}/tether?visitor=${visitorId()}`, {
    auth: () => ({ name: myName }),
    reconnect: { initialDelay: 500, maxDelay: 5_000 },
    // Room positions survive a reload of this tab: what was missed meanwhile is delivered on join.
    storage: sessionStorage,
  });
  client.on('state', showState);
  client.on('hello', (info) => {
    $('node').textContent = info.node;
  });
  client.on('error', (err) => console.warn('tether:', err.code, err.message));
  // Someone wrote @<my name>: a durable notification, so it also arrives if this page was closed.
  client.on('chat:mention', (mention) => {
    const view = views.get(active) ?? views.values().next().value;
    if (!view) return;
    view.notice = `${mention.from} mentioned you in #${mention.room.slice('chat:'.length)}: ${mention.text}`;
    render();
  });
  showState(client.state);

  const saved = JSON.parse(sessionStorage.getItem('chat:rooms') ?? 'null');
  const rooms = Array.isArray(saved) && saved.length > 0 ? saved : DEFAULT_ROOMS;
  for (const slug of rooms) void joinRoom(slug);
  select(rooms[0]);
  setInterval(() => {
    const view = views.get(active);
    if (view) void refreshPresence(view);
  }, PRESENCE_EVERY_MS);
}

function showState(state) {
  if (drop && !drop.done) {
    if (drop.trail.at(-1) !== state) drop.trail.push(state);
    if (state === 'open' && drop.trail.length > 1) {
      drop.done = true;
      drop.backAfterMs = Date.now() - drop.at;
    }
    renderDrop();
  }
  const badge = $('conn');
  badge.dataset.state = state;
  badge.dataset.transport = client.transport ?? '';
  badge.textContent =
    state === 'open'
      ? `online · ${client.transport}`
      : state === 'reconnecting'
        ? 'reconnecting…'
        : state === 'connecting'
          ? 'connecting…'
          : 'offline';
  if (state === 'reconnecting' && wasOpen) {
    // Mark where each room stood: messages recovered after the reconnect follow the line.
    for (const view of views.values()) view.awayAfter = lastConfirmed(view) ?? null;
    render();
  }
  if (state === 'open') {
    wasOpen = true;
    // Rejoins are on their way; ask for presence once they have had a moment.
    setTimeout(() => {
      const view = views.get(active);
      if (view) void refreshPresence(view);
    }, 300);
  }
}

function saveRooms() {
  sessionStorage.setItem('chat:rooms', JSON.stringify([...views.keys()]));
}

// ---- rooms ------------------------------------------------------------------------------------

async function joinRoom(slug) {
  if (!slug || views.has(slug)) return;
  const view = createView(slug);
  views.set(slug, view);
  saveRooms();
  render();
  try {
    const handle = await client.join(view.room);
    view.handle = handle;
    // Live messages, and after a reconnect the ones missed while away: in order, once each.
    handle.on('message', (msg, meta) => addConfirmed(view, msg, meta.epoch, meta.offset, true));
    handle.on('typing', (data) => showTyping(view, data.from));
    handle.on('tether:presence', (change) => applyPresence(view, change));
    handle.on('tether:rejoined', ({ recovered }) => {
      if (recovered) return;
      // History no longer reached back (or the server lost it): show what the server has now.
      view.notice = 'Some messages could not be recovered after the reconnect; showing the latest history.';
      void loadHistory(view);
    });
    await loadHistory(view);
    void refreshPresence(view);
  } catch (err) {
    view.notice = `Could not join #${slug}: ${err.message}`;
    render();
  }
}

async function loadHistory(view) {
  try {
    const page = await client.request('chat:history', { room: view.room }, { timeout: 5_000, retries: 2 });
    if (page.epoch && !view.epochs.includes(page.epoch)) {
      if (view.epochs.length > 0 && !view.notice)
        view.notice = 'The server lost its history (restart?); older messages above are from before.';
      view.epochs.push(page.epoch);
    }
    for (const msg of page.messages) addConfirmed(view, msg, msg.epoch, msg.offset, false);
    render();
  } catch (err) {
    view.notice = `History unavailable: ${err.message}`;
    render();
  }
}

function leaveRoom(slug) {
  const view = views.get(slug);
  if (!view) return;
  view.handle?.leave();
  views.delete(slug);
  saveRooms();
  if (active === slug) select(views.keys().next().value ?? '');
  else render();
}

function select(slug) {
  const previous = views.get(active);
  if (previous && active !== slug) previous.awayAfter = undefined;
  active = slug;
  const view = views.get(slug);
  if (view) {
    view.unread = 0;
    void refreshPresence(view);
  }
  $('text').placeholder = slug ? `Message #${slug}` : 'Join a room first';
  render();
}

async function refreshPresence(view) {
  if (!view.handle || client.state !== 'open') return;
  try {
    view.members = await view.handle.presence();
    if (view.slug === active) renderOnline();
  } catch {
    // Not joined yet (a rejoin in flight): the next refresh gets it.
  }
}

/** A join, leave or reconnect announced by the server: adjust the list without asking again. */
function applyPresence(view, change) {
  const others = view.members.filter(
    (m) => m.connId !== change.member?.connId && m.connId !== change.previousConnId,
  );
  view.members = change.type === 'leave' ? others : [...others, change.member];
  if (view.slug === active) renderOnline();
}

// ---- messages ---------------------------------------------------------------------------------

function addConfirmed(view, msg, epoch, offset, live) {
  const key = `${epoch}:${offset}`;
  if (view.confirmed.has(key)) return;
  if (!view.epochs.includes(epoch)) view.epochs.push(epoch);
  const mine = view.pending.get(msg.cid);
  if (mine) view.pending.delete(msg.cid);
  view.confirmed.set(key, { ...msg, epoch, offset, status: mine || msg.from === myName ? 'sent' : '' });
  if (live && view.slug !== active && msg.from !== myName) view.unread++;
  view.typing.delete(msg.from);
  schedule();
}

function lastConfirmed(view) {
  let last;
  for (const msg of sorted(view)) last = msg;
  return last ? { epoch: last.epoch, offset: last.offset } : undefined;
}

function sorted(view) {
  return [...view.confirmed.values()].sort(
    (a, b) => view.epochs.indexOf(a.epoch) - view.epochs.indexOf(b.epoch) || a.offset - b.offset,
  );
}

async function send(view, text, cid = newMessageId()) {
  const entry = view.pending.get(cid) ?? { cid, from: myName, text, ts: Date.now() };
  entry.status = 'sending';
  entry.error = '';
  view.pending.set(cid, entry);
  // The message ends this burst of typing: the next keystroke announces a new one.
  view.typingSentAt = 0;
  // Writing while connected means the backlog was read: the "new since" line goes.
  if (client.state === 'open') view.awayAfter = undefined;
  render();
  try {
    // Acked and retried with the same id (also across reconnects): the server handles it once.
    await client.request('chat:send', { room: view.room, text, cid }, { timeout: 4_000, retries: 5 });
    // Usually the message came back from the room before its ack; if not, it is sent all the same.
    if (view.pending.has(cid)) entry.status = 'sent';
  } catch (err) {
    if (view.pending.has(cid)) {
      entry.status = 'failed';
      entry.error = err.message;
    }
  }
  render();
}

function typed() {
  const view = views.get(active);
  if (!view?.handle || Date.now() - view.typingSentAt < TYPING_EVERY_MS) return;
  view.typingSentAt = Date.now();
  // Volatile: dropped while offline instead of buffered; a stale "typing" is worse than none.
  client.emit('typing', { room: view.room }, { volatile: true });
}

function showTyping(view, from) {
  clearTimeout(view.typing.get(from));
  view.typing.set(
    from,
    setTimeout(() => {
      view.typing.delete(from);
      if (view.slug === active) renderTyping();
    }, TYPING_SHOWN_MS),
  );
  if (view.slug === active) renderTyping();
}

// ---- network drop (demo) -------------------------------------------------------------------

/** Asks the server to cut this tab's sockets for a few seconds (see examples/chat/network-drop.mjs). */
async function simulateDrop() {
  if (drop && !drop.done) return;
  drop = { at: Date.now(), trail: [client.state], done: false, backAfterMs: 0, error: '' };
  renderDrop();
  try {
    const response = await fetch('/demo/network-drop', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ visitor: visitorId() }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error?.message ?? `the server answered ${response.status}`);
    drop.durationMs = body.durationMs;
  } catch (err) {
    // The cut can race the answer; only a drop that never happened is worth reporting.
    if (drop.trail.length === 1) {
      drop.error = err.message;
      drop.done = true;
    }
  }
  renderDrop();
}

function renderDrop() {
  const panel = $('drop-status');
  const button = $('drop');
  button.disabled = Boolean(drop && !drop.done);
  if (!drop) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.dataset.phase = drop.error ? 'failed' : drop.done ? 'recovered' : 'down';
  panel.dataset.trail = drop.trail.join(' ');
  const trail = drop.trail.join(' → ');
  panel.textContent = drop.error
    ? `Could not simulate a drop: ${drop.error}`
    : drop.done
      ? `Network drop: ${trail} in ${(drop.backAfterMs / 1000).toFixed(1)} s. Messages sent meanwhile are below the "new since you went offline" line, once each, in order.`
      : `Network drop: the server cut this page's connection${drop.durationMs ? ` for ${drop.durationMs / 1000} s` : ''}. ${trail}… Messages you write now wait as "sending…".`;
}

// ---- rendering --------------------------------------------------------------------------------

let scheduled = false;
/** Many messages can arrive in one burst (a recovery): render once after it. */
function schedule() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    render();
  });
}

function render() {
  renderRooms();
  renderMessages();
  renderOnline();
  renderTyping();
  const view = views.get(active);
  const notice = $('notice');
  notice.hidden = !view?.notice;
  notice.replaceChildren();
  if (view?.notice)
    notice.append(
      view.notice,
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            view.notice = '';
            render();
          },
        },
        'dismiss',
      ),
    );
}

function renderRooms() {
  const items = [...views.values()].map((view) =>
    h(
      'li',
      { 'data-room': view.slug, class: view.slug === active ? 'active' : undefined },
      h('button', { type: 'button', class: 'room', onclick: () => select(view.slug) }, `#${view.slug}`),
      view.unread > 0 ? h('span', { class: 'badge', title: 'unread' }, String(view.unread)) : null,
      h(
        'button',
        { type: 'button', class: 'leave', title: `leave #${view.slug}`, onclick: () => leaveRoom(view.slug) },
        '×',
      ),
    ),
  );
  $('rooms').replaceChildren(...items);
  $('online-room').textContent = active ? `#${active}` : '';
}

function renderMessages() {
  const list = $('messages');
  const view = views.get(active);
  if (!view) {
    list.replaceChildren();
    return;
  }
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const items = [];
  const messages = sorted(view);
  let awayIndex = -1;
  if (view.awayAfter !== undefined) {
    const mark = view.awayAfter;
    awayIndex = mark ? messages.findIndex((m) => m.epoch === mark.epoch && m.offset === mark.offset) + 1 : 0;
  }
  messages.forEach((msg, index) => {
    if (index === awayIndex) {
      const missed = messages.slice(awayIndex).filter((m) => m.from !== myName).length;
      if (missed > 0) items.push(h('li', { class: 'divider' }, `${missed} new since you went offline`));
    }
    items.push(messageItem(view, msg));
  });
  for (const msg of view.pending.values()) items.push(messageItem(view, msg));
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function messageItem(view, msg) {
  const mine = msg.from === myName;
  const status = msg.status;
  return h(
    'li',
    {
      class: `msg${mine ? ' mine' : ''}`,
      'data-status': status || undefined,
      'data-offset': msg.offset,
      'data-cid': msg.cid,
    },
    h('span', { class: 'from' }, msg.from),
    h('span', { class: 'text' }, msg.text),
    h('time', { datetime: new Date(msg.ts).toISOString() }, timeFormat.format(msg.ts)),
    mine ? statusMark(view, msg) : null,
  );
}

function statusMark(view, msg) {
  const status = msg.status;
  if (status === 'failed') {
    return h(
      'span',
      { class: 'status failed', title: msg.error },
      'not sent ',
      h('button', { type: 'button', onclick: () => send(view, msg.text, msg.cid) }, 'retry'),
    );
  }
  return h(
    'span',
    {
      class: `status ${status}`,
      title: status === 'sent' ? 'acknowledged by the server' : 'waiting for the ack',
    },
    status === 'sent' ? '✓' : 'sending…',
  );
}

function renderOnline() {
  const view = views.get(active);
  const byName = new Map();
  for (const member of view?.members ?? []) {
    const name = member.data?.name ?? '?';
    byName.set(name, (byName.get(name) ?? 0) + 1);
  }
  const items = [...byName]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) =>
      h('li', { 'data-name': name }, name, name === myName ? ' (you)' : '', count > 1 ? ` ×${count}` : ''),
    );
  $('online').replaceChildren(...items);
}

function renderTyping() {
  const view = views.get(active);
  const names = [...(view?.typing.keys() ?? [])];
  $('typing').textContent =
    names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

// ---- wiring -----------------------------------------------------------------------------------

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('name').value.trim();
  if (name) start(name);
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  const view = views.get(active);
  if (!text || !view) return;
  input.value = '';
  void send(view, text);
});
$('text').addEventListener('input', typed);

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const slug = slugOf($('join-input').value);
  $('join-input').value = '';
  if (!slug) return;
  void joinRoom(slug);
  select(slug);
});

$('drop').addEventListener('click', () => void simulateDrop());

$('sign-out').addEventListener('click', () => {
  client?.close();
  sessionStorage.clear();
  location.reload();
});

const savedName = sessionStorage.getItem('chat:name');
if (savedName) start(savedName);
else $('name').focus();
