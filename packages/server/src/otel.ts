import {
  type Attributes,
  type BatchObservableResult,
  type Context,
  context,
  type Meter,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Instrumentation } from './instrumentation.js';
import type { MetricsSnapshot } from './metrics.js';
import type { Outcome } from './outcome-store.js';
import type { TetherServer } from './tether-server.js';
import type { EventMap } from './typed-events.js';

/** Options of `instrument`. */
export interface OtelOptions {
  /** Where spans go. Default: `trace.getTracer('@tether/server')` (the global provider). */
  tracer?: Tracer;
  /** Where metrics go. Default: `metrics.getMeter('@tether/server')`; `false`: no metrics. */
  meter?: Meter | false;
  /** Reads the client's trace context (`traceContext` client option). Default: the global propagator. */
  propagator?: TextMapPropagator;
  /** Metric name prefix. Default `tether.`. */
  prefix?: string;
  /** Extra attributes on every metric (e.g. `{ node: 'a' }`). */
  attributes?: Attributes;
}

/** What this entry reads of a server: the same for every event map and data type. */
type AnyServer = Pick<TetherServer<EventMap, unknown>, 'observers' | 'metrics' | 'health'>;

type CounterSpec = [name: string, description: string, read: (m: MetricsSnapshot) => number];

// The counters of the Prometheus exposition (docs/operations.md), under OpenTelemetry names.
const COUNTERS: CounterSpec[] = [
  ['messages.in', 'Frames received from clients.', (m) => m.messages.in],
  ['messages.out', 'Frames sent to clients.', (m) => m.messages.out],
  ['bytes.in', 'Bytes received from clients.', (m) => m.bytes.in],
  ['bytes.out', 'Bytes sent to clients.', (m) => m.bytes.out],
  ['messages.rejected', 'Frames refused (bad frames, reserved events).', (m) => m.messages.rejected],
  ['rate_limited', 'Inbound messages refused by a rate limit.', (m) => m.messages.rateLimited],
  ['requests', 'Client requests answered.', (m) => m.requests.handled],
  ['dedup_hits', 'Request retries answered without running the handler again.', (m) => m.requests.dedupHits],
  ['ack_retries', 'Server-to-client request attempts after the first.', (m) => m.acks.retries],
  ['undelivered', 'Server-to-client requests given up.', (m) => m.acks.undelivered],
  ['publishes', 'Room publishes from this node.', (m) => m.publishes],
  ['recoveries.ok', 'Rejoins that recovered every missed message.', (m) => m.recoveries.ok],
  ['recoveries.failed', 'Rejoins whose history no longer reached back.', (m) => m.recoveries.failed],
  ['volatile_dropped', 'Volatile messages dropped for congested connections.', (m) => m.drops.volatile],
  ['slow_consumer_closes', 'Connections closed as slow consumers (4009).', (m) => m.drops.slowConsumerCloses],
  ['joins_refused', 'Client joins refused.', (m) => m.joinsRefused],
  ['connections.opened', 'Connections opened.', (m) => m.connectionsOpened],
  ['connections.closed', 'Connections closed.', (m) => m.connectionsClosed],
];

/**
 * OpenTelemetry for a server (`@opentelemetry/api` is an optional peer dependency: install it to
 * use this entry). Spans: `tether.request <event>` around each client request's handler (a
 * child of the client's span when the client sends its trace context; the handler runs inside
 * it, so its own spans nest), `tether.join <room>` and `tether.publish <room>`. Metrics: the
 * Prometheus exposition's counters and gauges (read at collection, nothing on the hot path) and
 * the request and publish latency histograms. Returns a function that removes everything.
 *
 * @example
 * import { instrument } from '@tether/server/otel';
 * const stop = instrument(tether); // global tracer and meter providers
 */
export function instrument(tether: AnyServer, options: OtelOptions = {}): () => void {
  const tracer = options.tracer ?? trace.getTracer('@tether/server');
  const propagator = options.propagator ?? propagation;
  const hooks = tether.observers.instrumentation;
  const installed: Instrumentation = {
    request: (info, run) => {
      const parent = info.traceContext
        ? propagator.extract(context.active(), info.traceContext, carrierGetter)
        : context.active();
      const attributes = {
        'tether.event': info.event,
        'tether.request_id': info.requestId,
        'tether.connection_id': info.connId,
        'tether.transport': info.transport,
      };
      return inSpan(
        tracer,
        `tether.request ${info.event}`,
        SpanKind.SERVER,
        attributes,
        parent,
        async (span) => {
          const outcome: Outcome = await run();
          if (!outcome.ok) {
            span.setAttribute('tether.error_code', outcome.code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.message });
          }
          return outcome;
        },
      );
    },
    join: (info, run) =>
      inSpan(
        tracer,
        `tether.join ${info.room}`,
        SpanKind.INTERNAL,
        { 'tether.room': info.room, 'tether.connection_id': info.connId, 'tether.resuming': info.resuming },
        context.active(),
        () => run(),
      ),
    publish: (info, run) =>
      inSpan(
        tracer,
        `tether.publish ${info.room}`,
        SpanKind.PRODUCER,
        { 'tether.room': info.room, 'tether.event': info.event, 'tether.volatile': info.volatile },
        context.active(),
        () => run(),
      ),
  };
  Object.assign(hooks, installed);
  const stopMetrics = options.meter === false ? noop : instrumentMetrics(tether, options);
  return () => {
    for (const key of Object.keys(installed) as Array<keyof Instrumentation>)
      if (hooks[key] === installed[key]) delete hooks[key];
    stopMetrics();
  };
}

/** Runs `work` inside a new active span; a throw or rejection marks the span as an error. */
async function inSpan<T>(
  tracer: Tracer,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind, attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string') span.setAttribute('tether.error_code', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

const carrierGetter = {
  get: (carrier: Readonly<Record<string, string>>, key: string) => carrier[key],
  keys: (carrier: Readonly<Record<string, string>>) => Object.keys(carrier),
};

function instrumentMetrics(tether: AnyServer, options: OtelOptions): () => void {
  const meter = options.meter || metrics.getMeter('@tether/server');
  const prefix = options.prefix ?? 'tether.';
  const base = options.attributes ?? {};
  const counters = COUNTERS.map(([name, description, read]) => ({
    read,
    instrument: meter.createObservableCounter(prefix + name, { description }),
  }));
  const connections = meter.createObservableGauge(`${prefix}connections`, {
    description: 'Open connections by transport.',
  });
  const rooms = meter.createObservableGauge(`${prefix}rooms`, {
    description: 'Rooms with members on this node.',
  });
  const busUp = meter.createObservableGauge(`${prefix}bus.up`, { description: '1 while the bus is up.' });
  const ready = meter.createObservableGauge(`${prefix}ready`, {
    description: '1 while the node takes connections (bus up, not closing).',
  });
  const observables = [...counters.map((c) => c.instrument), connections, rooms, busUp, ready];
  const collect = (result: BatchObservableResult) => {
    const m = tether.metrics();
    for (const { read, instrument } of counters) result.observe(instrument, read(m), base);
    result.observe(connections, m.connections.websocket, { ...base, transport: 'websocket' });
    result.observe(connections, m.connections.sse, { ...base, transport: 'sse' });
    result.observe(rooms, m.rooms, base);
    result.observe(busUp, m.bus.status === 'up' ? 1 : 0, base);
    result.observe(ready, tether.health().ready ? 1 : 0, base);
  };
  meter.addBatchObservableCallback(collect, observables);

  const histogram = (name: string, description: string, observers: Array<(ms: number) => void>) => {
    const h = meter.createHistogram(prefix + name, { description, unit: 'ms' });
    const observe = (ms: number) => h.record(ms, base);
    observers.push(observe);
    return () => observers.splice(observers.indexOf(observe), 1);
  };
  const stopRequests = histogram(
    'request.duration',
    'Client request handling time.',
    tether.observers.request,
  );
  const stopPublishes = histogram(
    'publish.duration',
    'Room publish latency through the bus.',
    tether.observers.publish,
  );
  return () => {
    meter.removeBatchObservableCallback(collect, observables);
    stopRequests();
    stopPublishes();
  };
}

const noop = () => {};
