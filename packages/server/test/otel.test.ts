import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { instrument } from '@tether/server/otel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  // What an app's OpenTelemetry setup does: a context manager, a propagator, a tracer provider.
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

const nodes: TestNode[] = [];
afterEach(async () => {
  exporter.reset();
  for (const node of nodes.splice(0)) await node.close();
});

describe('@tether/server/otel', () => {
  it('makes request, join and publish spans; the client trace context parents the handler', async () => {
    const n = await startNode({ authorizeJoin: () => true });
    nodes.push(n);
    const stop = instrument(n.tether, { meter: false });
    const tracer = trace.getTracer('test');
    n.tether.on('connection', (conn) => {
      conn.on('work', async () => {
        // The handler's own span nests under the request span.
        await tracer.startActiveSpan('db query', async (span) => span.end());
        return 'done';
      });
      conn.on('fails', () => {
        throw new Error('broken');
      });
    });
    // The client side: the app hands its active context to each request.
    const client = n.client({
      traceContext: () => {
        const carrier: Record<string, string> = {};
        propagation.inject(context.active(), carrier);
        return carrier;
      },
    });
    await waitForState(client, 'open');
    const clientSpan = tracer.startSpan('click');
    const reply = await context.with(trace.setSpan(context.active(), clientSpan), () =>
      client.request('work'),
    );
    clientSpan.end();
    expect(reply).toBe('done');
    expect((await rejectionOf(client.request('fails'))).code).toBe('HANDLER_ERROR');
    await client.join('lobby');
    await n.tether.to('lobby').emit('news', 1);

    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.find((s) => s.name === name);
    const request = byName('tether.request work');
    const query = byName('db query');
    expect(request, 'request span').toBeDefined();
    expect(request!.spanContext().traceId).toBe(clientSpan.spanContext().traceId);
    expect(request!.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(query!.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
    expect(request!.attributes['tether.event']).toBe('work');
    const failed = byName('tether.request fails');
    expect(failed!.status.code).toBe(2); // ERROR
    expect(failed!.attributes['tether.error_code']).toBe('HANDLER_ERROR');
    expect(byName('tether.join lobby')!.attributes['tether.room']).toBe('lobby');
    expect(byName('tether.publish lobby')!.attributes['tether.event']).toBe('news');

    // Removed: no more spans.
    stop();
    exporter.reset();
    await client.request('work');
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['db query']);
  });

  it('exports the metrics of the Prometheus exposition', async () => {
    const n = await startNode({});
    nodes.push(n);
    const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({
      exporter: metricExporter,
      exportIntervalMillis: 60_000,
    });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const stop = instrument(n.tether, { meter: meterProvider.getMeter('tether'), attributes: { node: 'a' } });
    n.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const client = n.client();
    expect(await client.request('echo', 1)).toBe(1);
    await until(() => n.tether.metrics().requests.handled === 1, 5_000, 'the request to count');

    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const found = new Map<string, number>();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const metric of scope.metrics) {
        const point = metric.dataPoints[0];
        const value =
          point && typeof point.value === 'number'
            ? point.value
            : (point?.value as { count?: number })?.count;
        found.set(metric.descriptor.name, value ?? -1);
      }
    expect(found.get('tether.requests')).toBe(1);
    expect(found.get('tether.connections.opened')).toBe(1);
    expect(found.get('tether.bus.up')).toBe(1);
    expect(found.get('tether.ready')).toBe(1);
    expect(found.get('tether.request.duration')).toBe(1); // one observation in the histogram
    expect(found.has('tether.messages.in')).toBe(true);
    stop();
    await meterProvider.shutdown();
  });
});
