// The admin dashboard: no Tether client, only the browser's EventSource on Tether's plain SSE
// endpoint. Every node publishes a `tick` (its `tether.metrics()`) to the room `metrics` each second.
const POINTS = 60;
const STALE_MS = 5_000;
const COLORS = ['#2f6fed', '#1f9d55', '#c47f00', '#d64545', '#7a4cc2'];

const $ = (id) => document.getElementById(id);
/** node -> { tick, series: [messagesPerSec], lastSeq, color } */
const nodes = new Map();
let ticks = 0;
let gaps = 0;
let reconnects = 0;
let everOpen = false;

const source = new EventSource('/tether/events?room=metrics');

source.addEventListener('open', () => {
  if (everOpen) reconnects++;
  everOpen = true;
  showState('open');
});
source.addEventListener('error', () => {
  // The browser retries by itself (state CONNECTING) and sends Last-Event-ID when it does.
  showState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
});
source.addEventListener('tick', (event) => onTick(JSON.parse(event.data)));
source.addEventListener('tether:recovery-failed', () => {
  // The gap was longer than the room's history: some ticks are gone for good.
  $('gaps').textContent = `${gaps} (+ lost history)`;
});

function showState(state) {
  const badge = $('conn');
  badge.dataset.state = state;
  badge.textContent = state === 'open' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'closed';
  $('reconnects').textContent = String(reconnects);
}

function onTick(tick) {
  let node = nodes.get(tick.node);
  if (!node) {
    node = { series: [], lastSeq: 0, color: COLORS[nodes.size % COLORS.length] };
    nodes.set(tick.node, node);
  }
  if (tick.seq <= node.lastSeq && tick.seq !== 1) return; // seen already
  if (node.lastSeq > 0 && tick.seq > node.lastSeq + 1) gaps += tick.seq - node.lastSeq - 1;
  node.lastSeq = tick.seq;
  node.tick = tick;
  node.seenAt = Date.now();
  node.series.push(tick.messagesPerSec);
  if (node.series.length > POINTS) node.series.shift();
  ticks++;
  render();
}

function render() {
  const live = [...nodes.values()].filter((n) => Date.now() - n.seenAt < STALE_MS);
  const sum = (pick) => live.reduce((total, n) => total + pick(n.tick), 0);
  $('connections').textContent = String(sum((t) => t.connections.total));
  $('connections-split').textContent =
    `${sum((t) => t.connections.websocket)} WebSocket · ${sum((t) => t.connections.sse)} SSE`;
  $('rate').textContent = sum((t) => t.messagesPerSec).toFixed(1);
  $('retries').textContent = String(sum((t) => t.retries));
  $('undelivered').textContent = `${sum((t) => t.undelivered)} given up`;
  $('recoveries').textContent = `${sum((t) => t.recoveries.ok)} / ${sum((t) => t.recoveries.failed)}`;
  $('ticks').textContent = String(ticks);
  $('gaps').textContent = String(gaps);
  renderNodes();
  renderChart();
}

function renderNodes() {
  const rows = [...nodes].map(([name, node]) => {
    const t = node.tick;
    const tr = document.createElement('tr');
    tr.dataset.node = name;
    if (Date.now() - node.seenAt >= STALE_MS) tr.className = 'stale';
    const cells = [name, t.connections.total, t.messagesPerSec.toFixed(1), t.retries, t.bus, `#${t.seq}`];
    for (const [i, value] of cells.entries()) {
      const td = document.createElement('td');
      if (i === 0) {
        const dot = document.createElement('span');
        dot.className = 'dot';
        dot.style.background = node.color;
        td.append(dot);
      }
      td.append(String(value));
      tr.append(td);
    }
    return tr;
  });
  $('nodes').replaceChildren(...rows);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

function renderChart() {
  const chart = $('chart');
  // Drawn in CSS pixels of the element, so text is not stretched and lines use the full width.
  const W = Math.max(200, Math.round(chart.clientWidth || 640));
  const [H, left, bottom, top] = [200, 40, 20, 10];
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const max = Math.max(5, ...[...nodes.values()].flatMap((n) => n.series));
  const scale = niceCeil(max);
  const x = (i) => left + (i / (POINTS - 1)) * (W - left - 10);
  const y = (v) => top + (1 - v / scale) * (H - top - bottom);
  const parts = [];
  for (let k = 0; k <= 4; k++) {
    const value = (scale / 4) * k;
    parts.push(svg('line', { x1: left, x2: W - 10, y1: y(value), y2: y(value), class: 'grid' }));
    const label = svg('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = Number.isInteger(value) ? String(value) : value.toFixed(1);
    parts.push(label);
  }
  for (const node of nodes.values()) {
    const offset = POINTS - node.series.length;
    const points = node.series.map((v, i) => `${x(offset + i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(
      svg('polyline', {
        points,
        fill: 'none',
        stroke: node.color,
        'stroke-width': 2,
        'stroke-linejoin': 'round',
      }),
    );
  }
  chart.replaceChildren(...parts);
  $('legend').replaceChildren(
    ...[...nodes].map(([name, node]) => {
      const item = document.createElement('span');
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.style.background = node.color;
      item.append(dot, name);
      return item;
    }),
  );
}

/** 5, 10, 20, 50, 100, ... : a round upper bound for the y axis. */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

setInterval(render, 1_000);
