/**
 * The operations page: one static document that opens `operations/events` (relative to itself)
 * with a plain EventSource and renders each `nodes` event. No external assets; every value is
 * set as text, never as HTML.
 */
export const OPERATIONS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tether operations</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
  h1 { font-size: 1.2rem; margin: 0 0 .25rem; }
  #status { color: #5b6475; margin-bottom: 1rem; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { text-align: right; padding: .25rem .6rem; border-bottom: 1px solid #e3e6ec; }
  th:first-child, td:first-child { text-align: left; }
  .down { color: #b42318; font-weight: 600; }
  .up { color: #067647; }
</style>
</head>
<body>
<h1>Tether operations</h1>
<div id="status">connecting…</div>
<h2>Nodes</h2>
<table id="nodes"><thead><tr>
  <th>node</th><th>ready</th><th>bus</th><th>connections</th><th>websocket</th><th>sse</th><th>rooms</th>
  <th>msg in/s</th><th>msg out/s</th><th>publishes/s</th><th>opened/s</th><th>rate-limited/s</th>
  <th>slow consumers</th><th>undelivered</th><th>recoveries failed</th><th>report age</th>
</tr></thead><tbody></tbody></table>
<h2>Busiest rooms</h2>
<table id="rooms"><thead><tr><th>room</th><th>node</th><th>members</th></tr></thead><tbody></tbody></table>
<h2>Dead letters</h2>
<p>The oldest ten of the shared inbox (all of them: <code>tether.deadLetters.list()</code>). Redrive puts one back in its user's inbox.</p>
<table id="dead"><thead><tr><th>id</th><th>user</th><th>event</th><th>attempts</th><th>since</th><th></th></tr></thead><tbody></tbody></table>
<h2>A user's inbox</h2>
<form id="inbox-form"><input id="inbox-user" placeholder="user key" required> <button>Show</button> <span id="inbox-status"></span></form>
<table id="inbox"><thead><tr><th>id</th><th>event</th><th>urgent</th><th>attempts</th><th>stored</th><th>expires</th><th>data</th></tr></thead><tbody></tbody></table>
<script>
  const status = document.getElementById('status');
  const row = (cells) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = String(text);
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  };
  const inboxStatus = document.getElementById('inbox-status');
  const showInbox = async (user) => {
    const res = await fetch('operations/inbox?user=' + encodeURIComponent(user));
    const body = await res.json();
    if (!res.ok) { inboxStatus.textContent = body.message || res.statusText; return; }
    inboxStatus.textContent = body.notifications.length + ' pending for ' + user;
    document.querySelector('#inbox tbody').replaceChildren(...body.notifications.map((n) => row([
      [n.id], [n.event], [n.urgent ? 'yes' : 'no'], [n.attempts], [new Date(n.createdAt).toLocaleString()],
      [new Date(n.expiresAt).toLocaleString()], [JSON.stringify(n.data)],
    ])));
  };
  document.getElementById('inbox-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showInbox(document.getElementById('inbox-user').value).catch((err) => { inboxStatus.textContent = String(err); });
  });
  const redrive = async (d, button) => {
    button.disabled = true;
    const res = await fetch('operations/redrive?id=' + encodeURIComponent(d.id),
      { method: 'POST', headers: { 'x-tether-operations': 'redrive' } });
    const body = await res.json();
    button.textContent = res.ok && body.redriven ? 'redriven' : 'not found';
    if (res.ok && body.redriven) await showInbox(d.userId);
  };
  const events = new EventSource('operations/events');
  events.addEventListener('open', () => { status.textContent = 'live'; });
  events.addEventListener('error', () => { status.textContent = 'disconnected, retrying…'; });
  events.addEventListener('nodes', (e) => {
    const nodes = JSON.parse(e.data);
    if (!Array.isArray(nodes)) { status.textContent = 'bus error: ' + nodes.error; return; }
    status.textContent = 'live: ' + nodes.length + ' node(s), ' + new Date().toLocaleTimeString();
    const body = document.querySelector('#nodes tbody');
    const rooms = document.querySelector('#rooms tbody');
    body.replaceChildren(...nodes.map((n) => row([
      [n.nodeId], [n.ready ? 'yes' : 'no', n.ready ? 'up' : 'down'], [n.bus, n.bus === 'up' ? 'up' : 'down'],
      [n.metrics.connections.total], [n.metrics.connections.websocket], [n.metrics.connections.sse],
      [n.metrics.rooms], [n.rates.messagesIn], [n.rates.messagesOut], [n.rates.publishes],
      [n.rates.connectionsOpened], [n.rates.rateLimited], [n.metrics.drops.slowConsumerCloses],
      [n.metrics.acks.undelivered], [n.metrics.recoveries.failed],
      [Math.max(0, Math.round((Date.now() - n.at) / 1000)) + ' s'],
    ])));
    const busiest = nodes.flatMap((n) => n.rooms.map((r) => ({ ...r, nodeId: n.nodeId })))
      .sort((a, b) => b.members - a.members).slice(0, 20);
    rooms.replaceChildren(...busiest.map((r) => row([[r.room], [r.nodeId], [r.members]])));
    const dead = new Map();
    for (const n of nodes) for (const d of n.deadLetters || []) dead.set(d.id, d);
    document.querySelector('#dead tbody').replaceChildren(...[...dead.values()].map((d) => {
      const tr = row([[d.id], [d.userId], [d.event], [d.attempts], [new Date(d.deadAt).toLocaleString()]]);
      const button = document.createElement('button');
      button.textContent = 'redrive';
      button.addEventListener('click', () => redrive(d, button).catch((err) => { button.textContent = String(err); }));
      const td = document.createElement('td');
      td.append(button);
      tr.append(td);
      return tr;
    }));
  });
</script>
</body>
</html>
`;
