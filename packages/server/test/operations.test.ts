import { TetherClient } from '@tether/client';
import { exposeMetrics } from '@tether/server/prometheus';
import { deferred, TcpProxy } from '@tether/test-utils';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, type TetherError } from '../src/index.js';
import { rejectionOf, startNode, until, waitForState } from './harness.js';

const resources: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const release of resources.splice(0).reverse()) await release();
});

async function node(options: Parameters<typeof startNode>[0] = {}) {
  const started = await startNode(options);
  resources.push(() => started.close());
  return started;
}

describe('metrics', () => {
  it('counts a scripted workload in the snapshot and in the Prometheus exposition', async () => {
    const server = await node({ authorizeJoin: () => true });
    const registry = new Registry();
    resources.push(exposeMetrics(server.tether, { registry, labels: { node: 'a' } }));
    server.tether.on('connection', (conn) => {
      conn.on('echo', (d) => d);
      conn.on('fail', () => {
        throw new Error('no');
      });
    });
    const a = server.client();
    const b = server.client();
    await a.join('room');
    await b.join('room');
    for (let i = 0; i < 5; i++) await a.request('echo', i);
    expect((await rejectionOf(a.request('fail'))).code).toBe('HANDLER_ERROR');
    await server.tether.to('room').emit('tick', { n: 1 });
    await server.tether.to('room').emit('tick', { n: 2 });
    await until(() => server.tether.metrics().messages.out >= 10, 2_000, 'deliveries');

    const m = server.tether.metrics();
    expect(m.connections).toEqual({ total: 2, websocket: 2, sse: 0 });
    expect(m.rooms).toBe(1);
    expect(m.requests.handled).toBe(6);
    expect(m.publishes).toBe(2);
    expect(m.bytes.in).toBeGreaterThan(0);
    expect(m.bytes.out).toBeGreaterThan(m.bytes.in / 10);
    expect(m.bus.status).toBe('up');

    const text = await registry.metrics();
    expect(text).toContain('tether_connections{node="a",transport="websocket"} 2');
    expect(text).toContain('tether_requests_total{node="a"} 6');
    expect(text).toContain('tether_publishes_total{node="a"} 2');
    expect(text).toContain('tether_bus_up{node="a"} 1');
    expect(text).toMatch(/tether_request_duration_ms_count\{node="a"\} 6/);
    expect(text).toMatch(/tether_publish_duration_ms_count\{node="a"\} 2/);
    // Counters only grow: a second scrape after more work shows the new totals.
    await a.request('echo', 'again');
    expect(await registry.metrics()).toContain('tether_requests_total{node="a"} 7');
  });
});

describe('connection gauges', () => {
  it('counts connections by transport as they open and close', async () => {
    const server = await node();
    const ws = server.client({ transports: ['websocket'] });
    const sse = server.client({ transports: ['sse'] });
    await waitForState(ws, 'open');
    await waitForState(sse, 'open');
    expect(server.tether.metrics().connections).toEqual({ total: 2, websocket: 1, sse: 1 });
    sse.close();
    await until(() => server.tether.metrics().connections.total === 1, 3_000, 'the SSE close');
    expect(server.tether.metrics().connections).toEqual({ total: 1, websocket: 1, sse: 0 });
  });
});

describe('health', () => {
  it('reports ready over HTTP and answers 503 while the server drains', async () => {
    const server = await startNode();
    const started = deferred();
    const release = deferred();
    resources.push(() => release.resolve());
    server.tether.on('connection', (conn) =>
      conn.on('slow', async () => {
        started.resolve();
        await release.promise;
        return 'ok';
      }),
    );
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ready: true, bus: 'up', closing: false, connections: 0 });
    const client = new TetherClient(server.url, { transports: ['websocket'], reconnect: false });
    resources.push(() => client.close());
    await waitForState(client, 'open');
    const inFlight = client.request('slow');
    await started.promise;
    const closing = server.tether.close({ drainMs: 1_000 });
    expect(server.tether.health().ready).toBe(false);
    const during = await fetch(`${server.url}/health`);
    expect(during.status).toBe(503);
    expect(await during.json()).toMatchObject({ ready: false, closing: true });
    release.resolve(); // the request was in flight all along: draining waits for it
    await expect(inFlight).resolves.toBe('ok');
    await closing;
    await server.close();
  });
});

describe('graceful shutdown', () => {
  it('lets in-flight requests finish within drainMs, then closes with 4503 and a reconnect spread', async () => {
    const server = await startNode({ reconnectSpreadMs: 200 });
    const started = deferred();
    const release = deferred();
    resources.push(() => release.resolve());
    server.tether.on('connection', (conn) =>
      conn.on('slow', async () => {
        started.resolve();
        await release.promise;
        return 'finished';
      }),
    );
    const client = new TetherClient(server.url, { transports: ['websocket'], reconnect: false });
    resources.push(() => client.close());
    await waitForState(client, 'open');
    const reply = client.request('slow', null, { timeout: 2_000 });
    await started.promise;
    const errors: TetherError[] = [];
    client.on('error', (e) => errors.push(e));
    const closed = waitForState(client, 'closed', 3_000);
    const closing = server.tether.close({ drainMs: 1_000 });
    // Draining has begun with the request still running; it finishes now, within drainMs.
    await until(() => server.tether.health().closing, 1_000, 'the drain to begin');
    expect(client.state).toBe('open');
    release.resolve();
    await closing;
    await expect(reply).resolves.toBe('finished');
    await closed;
    await server.close();
  });

  it('moves clients to another node on drain without losing room messages', async () => {
    const bus = new MemoryBus();
    resources.push(() => bus.close());
    const a = await startNode({ bus, authorizeJoin: () => true, reconnectSpreadMs: 100 });
    const b = await node({ bus, authorizeJoin: () => true });
    const proxy = await TcpProxy.start({
      targets: [
        { host: '127.0.0.1', port: a.port },
        { host: '127.0.0.1', port: b.port },
      ],
    });
    resources.push(() => proxy.close());
    const clients = Array.from({ length: 6 }, () => {
      const c = new TetherClient(proxy.url('/tether'), {
        transports: ['websocket'],
        reconnect: { initialDelay: 20, maxDelay: 80 },
      });
      resources.push(() => c.close());
      return c;
    });
    const received = clients.map(() => [] as number[]);
    await Promise.all(
      clients.map(async (c, i) => {
        const room = await c.join('orders');
        room.on('n', (d) => received[i]!.push(d as number));
      }),
    );
    expect(a.tether.connections.size).toBeGreaterThan(0);
    await b.tether.to('orders').emit('n', 1);
    const draining = a.tether.close({ drainMs: 100 });
    await b.tether.to('orders').emit('n', 2);
    await draining;
    await b.tether.to('orders').emit('n', 3);
    await until(() => b.tether.connections.size === 6, 5_000, 'every client on the other node');
    await until(() => clients.every((c) => c.state === 'open'), 2_000, 'every client open');
    await b.tether.to('orders').emit('n', 4);
    await until(() => received.every((r) => r.length === 4), 3_000, 'every message everywhere');
    for (const r of received) expect(r).toEqual([1, 2, 3, 4]);
    await a.close();
  });
});
