import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, register as defaultRegistry, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricsSnapshot } from './metrics.js';
import type { TetherServer } from './tether-server.js';
import type { EventMap } from './typed-events.js';

/** Options of `exposeMetrics`. */
export interface PrometheusOptions {
  /** Registry to register into. Default: prom-client's global registry. */
  registry?: Registry;
  /** Metric name prefix. Default `tether_`. */
  prefix?: string;
  /** Extra labels on every metric (e.g. `{ node: 'a' }` when several servers share a registry). */
  labels?: Record<string, string>;
}

/** Exporters read counters and observers only, the same for every event map and data type. */
type AnyServer = Pick<TetherServer<EventMap, unknown>, 'counters' | 'observers' | 'metrics' | 'health'>;

type CounterSpec = [name: string, help: string, read: (m: MetricsSnapshot) => number];

const COUNTERS: CounterSpec[] = [
  ['messages_in_total', 'Frames received from clients.', (m) => m.messages.in],
  ['messages_out_total', 'Frames sent to clients.', (m) => m.messages.out],
  ['bytes_in_total', 'Bytes received from clients.', (m) => m.bytes.in],
  ['bytes_out_total', 'Bytes sent to clients.', (m) => m.bytes.out],
  ['messages_rejected_total', 'Frames refused (bad frames, reserved events).', (m) => m.messages.rejected],
  ['rate_limited_total', 'Inbound messages refused by a rate limit.', (m) => m.messages.rateLimited],
  ['requests_total', 'Client requests answered.', (m) => m.requests.handled],
  [
    'dedup_hits_total',
    'Request retries answered without running the handler again.',
    (m) => m.requests.dedupHits,
  ],
  ['ack_retries_total', 'Server-to-client request attempts after the first.', (m) => m.acks.retries],
  ['undelivered_total', 'Server-to-client requests given up (undelivered).', (m) => m.acks.undelivered],
  ['publishes_total', 'Room publishes from this node.', (m) => m.publishes],
  ['recoveries_ok_total', 'Rejoins that recovered every missed message.', (m) => m.recoveries.ok],
  ['recoveries_failed_total', 'Rejoins whose history no longer reached back.', (m) => m.recoveries.failed],
  ['volatile_dropped_total', 'Volatile messages dropped for congested connections.', (m) => m.drops.volatile],
  [
    'slow_consumer_closes_total',
    'Connections closed as slow consumers (4009).',
    (m) => m.drops.slowConsumerCloses,
  ],
  ['joins_refused_total', 'Client joins refused.', (m) => m.joinsRefused],
  ['connections_opened_total', 'Connections opened.', (m) => m.connectionsOpened],
  ['connections_closed_total', 'Connections closed.', (m) => m.connectionsClosed],
];

/**
 * Exposes a server's metrics to Prometheus through prom-client (an optional peer dependency:
 * install it to use this entry point). Counters and gauges are read from `tether.metrics()` at
 * scrape time, so the hot path pays nothing; request and publish latencies are histograms.
 * Returns a function that unregisters everything.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { exposeMetrics, metricsHandler } from '@tether/server/prometheus';
 * const registry = new Registry();
 * exposeMetrics(tether, { registry });
 * app.get('/metrics', metricsHandler(registry));
 */
export function exposeMetrics(tether: AnyServer, options: PrometheusOptions = {}): () => void {
  const registry = options.registry ?? defaultRegistry;
  const prefix = options.prefix ?? 'tether_';
  const labels = options.labels ?? {};
  const labelNames = Object.keys(labels);
  const names: string[] = [];
  let snapshot: MetricsSnapshot | undefined;
  // One snapshot per scrape, shared by every collector of that scrape.
  const current = () => (snapshot ??= tether.metrics());
  const clearSoon = () => queueMicrotask(() => (snapshot = undefined));

  for (const [name, help, read] of COUNTERS) {
    let last = 0;
    names.push(prefix + name);
    new Counter({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const value = read(current());
        if (value > last) this.inc(labels, value - last);
        last = value;
        clearSoon();
      },
    });
  }

  const gauge = (name: string, help: string, extraLabels: string[], collect: (g: Gauge) => void) => {
    names.push(prefix + name);
    new Gauge({
      name: prefix + name,
      help,
      labelNames: [...labelNames, ...extraLabels],
      registers: [registry],
      collect() {
        collect(this);
        clearSoon();
      },
    });
  };
  gauge('connections', 'Open connections by transport.', ['transport'], (g) => {
    const m = current();
    g.set({ ...labels, transport: 'websocket' }, m.connections.websocket);
    g.set({ ...labels, transport: 'sse' }, m.connections.sse);
  });
  gauge('rooms', 'Rooms with members on this node.', [], (g) => g.set(labels, current().rooms));
  gauge('bus_up', '1 while the bus is up, 0 while it is down.', [], (g) =>
    g.set(labels, current().bus.status === 'up' ? 1 : 0),
  );
  gauge('ready', '1 while the node takes connections (bus up, not closing).', [], (g) =>
    g.set(labels, tether.health().ready ? 1 : 0),
  );

  const histogram = (name: string, help: string, observers: Array<(ms: number) => void>) => {
    names.push(prefix + name);
    const h = new Histogram({
      name: prefix + name,
      help,
      labelNames,
      buckets: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers: [registry],
    });
    const observe = (ms: number) => h.observe(labels, ms);
    observers.push(observe);
    return () => observers.splice(observers.indexOf(observe), 1);
  };
  const stopRequests = histogram(
    'request_duration_ms',
    'Client request handling time, ms.',
    tether.observers.request,
  );
  const stopPublishes = histogram(
    'publish_duration_ms',
    'Room publish latency through the bus, ms.',
    tether.observers.publish,
  );

  return () => {
    stopRequests();
    stopPublishes();
    for (const name of names) registry.removeSingleMetric(name);
  };
}

/**
 * A request handler that answers with the registry's exposition text.
 *
 * @example
 * http.on('request', (req, res) => req.url === '/metrics' && metricsHandler(registry)(req, res));
 */
export function metricsHandler(registry: Registry = defaultRegistry) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String((err as Error).message));
    }
  };
}
