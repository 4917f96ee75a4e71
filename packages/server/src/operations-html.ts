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
  });
</script>
</body>
</html>
`;
