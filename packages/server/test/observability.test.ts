import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { format, promisify } from 'node:util';
import type { TetherClient } from '@tether/client';
import type { TetherError } from '@tether/protocol';
import { configureTracing } from '@tether/protocol/trace';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HistoryPage,
  type Logger,
  MemoryBus,
  type Publication,
  type PublishResult,
  type RoomPosition,
  TetherServer,
} from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every line, to assert on. */
function capturingLogger(): Logger & { lines: Line[]; find(msg: string): Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (fields: object, msg = '') =>
      void lines.push({ level, msg, fields: fields as Record<string, unknown> });
  return {
    lines,
    find: (msg) => lines.filter((line) => line.msg.startsWith(msg)),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

const nodes: TestNode[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  configureTracing(undefined);
  for (const node of nodes.splice(0)) await node.close();
  for (const close of closers.splice(0)) await close();
});

async function node(options: Parameters<typeof startNode>[0]): Promise<TestNode> {
  const started = await startNode(options);
  nodes.push(started);
  return started;
}

describe('lifecycle logs', () => {
  it('logs connections opened and closed with transport, code and reason', async () => {
    const logger = capturingLogger();
    const n = await node({ logger });
    const client = n.client();
    await waitForState(client, 'open');
    const opened = logger.find('connection opened');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.fields).toMatchObject({
      transport: 'websocket',
      connId: client.connectionId,
      resumed: false,
    });
    const [conn] = [...n.tether.connections.values()];
    conn!.close(4009, 'too slow for this test');
    await until(() => logger.find('connection closed').length === 1, 5_000, 'the close line');
    const closed = logger.find('connection closed')[0]!;
    expect(closed.level).toBe('info'); // 4009 is trouble: not debug churn
    expect(closed.fields).toMatchObject({
      code: 4009,
      reason: 'too slow for this test',
      transport: 'websocket',
    });
    // A normal close by the client is churn: debug.
    await waitForState(client, 'open');
    client.close();
    await until(() => logger.find('connection closed').length === 2, 5_000, 'the second close line');
    expect(logger.find('connection closed')[1]).toMatchObject({ level: 'debug', fields: { code: 1000 } });
  });

  it('logs refusals with their reason, for WebSocket and SSE alike', async () => {
    const logger = capturingLogger();
    const n = await node({ logger, authenticate: () => null });
    const ws = n.client({ transports: ['websocket'] });
    await waitForState(ws, 'closed');
    const sse = n.client({ transports: ['sse'] });
    await waitForState(sse, 'closed');
    const refused = logger.find('connection refused');
    expect(refused.map((line) => [line.fields.transport, line.fields.status, line.fields.code])).toEqual([
      ['websocket', 401, 'UNAUTHORIZED'],
      ['sse', 401, 'UNAUTHORIZED'],
    ]);
  });

  it('logs a handler that failed (naming the event), not a TetherError the app meant', async () => {
    const logger = capturingLogger();
    const n = await node({ logger });
    n.tether.on('connection', (conn) => {
      conn.on('broken', () => {
        throw new Error('database gone');
      });
      conn.on('refuses', async () => {
        const { TetherError } = await import('../src/index.js');
        throw new TetherError('NOT_YOURS', 'no');
      });
    });
    const client = n.client();
    expect((await rejectionOf(client.request('broken'))).code).toBe('HANDLER_ERROR');
    expect((await rejectionOf(client.request('refuses'))).code).toBe('NOT_YOURS');
    const failed = logger.find('request handler failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'warn', fields: { event: 'broken' } });
  });

  it('reports the bus: bus:status for the initial state, a log line, and ready()', async () => {
    const logger = capturingLogger();
    // Listeners added right after construction hear the initial state.
    const tether = new TetherServer({ logger });
    const statuses: string[] = [];
    tether.on('bus:status', (status) => statuses.push(status));
    const n = { tether };
    closers.push(() => tether.close());
    await n.tether.ready();
    await until(() => statuses.length === 1, 5_000, 'the initial bus:status');
    expect(statuses).toEqual(['up']);
    expect(logger.find('bus is up')).toHaveLength(1);
    // Already up: settles at once, again.
    await n.tether.ready({ timeoutMs: 1 });
  });
});

describe('rate limits are told, not silent', () => {
  it('tells the client at the first drop (error RATE_LIMITED), emit says false meanwhile, one log line per episode', async () => {
    const logger = capturingLogger();
    const n = await node({
      logger,
      rateLimit: { burst: 5, perSecond: 5, initialTokens: 5, closeAfterMs: 0 },
    });
    const client: TetherClient = n.client();
    const errors: TetherError[] = [];
    client.on('error', (err) => errors.push(err));
    const notices: Array<{ m: string; ms: number }> = [];
    client.on('tether:rate-limited', (info) => notices.push(info));
    await waitForState(client, 'open');
    // The first burst leaves; the server refuses the rest and says so once.
    const sent: boolean[] = [];
    for (let i = 0; i < 30; i++) sent.push(client.emit('spam', i));
    expect(sent.every(Boolean)).toBe(true); // written before any answer could arrive
    await until(() => errors.length > 0, 5_000, 'the RATE_LIMITED error');
    expect(errors.map((e) => e.code)).toEqual(['RATE_LIMITED']);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.ms).toBeGreaterThan(0);
    // Told: emits now report that they were not sent.
    expect(client.emit('spam', 'after')).toBe(false);
    expect(logger.find('rate limit:')).toHaveLength(1);
    expect(logger.find('rate limit:')[0]!.level).toBe('warn');
    expect(n.tether.metrics().messages.rateLimited).toBeGreaterThan(1);
  });
});

describe('tracing', () => {
  it('traces both sides by namespace when on, and nothing when off', async () => {
    const lines: string[] = [];
    configureTracing(
      'tether:*',
      (namespace, fmt, args) => void lines.push(`${namespace} ${format(fmt, ...args)}`),
    );
    const n = await node({});
    n.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const client = n.client();
    await waitForState(client, 'open');
    expect(await client.request('echo', 1)).toBe(1);
    client.close();
    await until(() => lines.some((l) => l.startsWith('tether:server:conn closed')), 5_000, 'the close trace');
    const namespaces = new Set(lines.map((l) => l.split(' ')[0]));
    for (const ns of [
      'tether:server:conn',
      'tether:server:request',
      'tether:server:bus',
      'tether:client',
      'tether:client:transport',
      'tether:client:frame',
    ])
      expect(namespaces, `traces of ${ns}`).toContain(ns);
    expect(lines.some((l) => /^tether:client state open$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('tether:client:frame out {"t":"hello"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tether:server:request') && l.includes('"echo"'))).toBe(true);

    // Off: the same work traces nothing.
    configureTracing('', (namespace) => void lines.push(`${namespace} (should not be written)`));
    const before = lines.length;
    const quiet = n.client();
    await waitForState(quiet, 'open');
    expect(await quiet.request('echo', 2)).toBe(2);
    quiet.close();
    await until(() => n.tether.connections.size === 0, 5_000, 'the connection to close');
    expect(lines.length).toBe(before);
  });

  it('reads DEBUG from the environment of a Node process (built packages)', async () => {
    const dist = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
    const script = `
      import { createServer } from 'node:http';
      import { TetherServer } from ${JSON.stringify(dist('server/dist/index.js'))};
      import { TetherClient } from ${JSON.stringify(dist('client/dist/node.js'))};
      const http = createServer();
      const tether = new TetherServer({ server: http });
      await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
      const client = new TetherClient('http://127.0.0.1:' + http.address().port + '/tether');
      await new Promise((resolve) => client.on('state', (s) => s === 'open' && resolve()));
      client.close();
      await tether.close();
      http.close();`;
    const run = (DEBUG: string | undefined) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, DEBUG },
        timeout: 20_000,
      });
    const on = await run('tether:*');
    expect(on.stderr).toMatch(/Z tether:server:conn opened /);
    expect(on.stderr).toMatch(/Z tether:client state open/);
    expect(on.stderr).toMatch(/Z tether:client:frame out \{"t":"hello"/);
    const off = await run(undefined);
    expect(off.stderr).not.toMatch(/tether:/);
  }, 30_000);

  it('turns namespaces on and off one by one', async () => {
    const lines: string[] = [];
    configureTracing('tether:server:*,-tether:server:request', (namespace) => void lines.push(namespace));
    const n = await node({});
    n.tether.on('connection', (conn) => conn.on('echo', (d) => d));
    const client = n.client();
    expect(await client.request('echo', 1)).toBe(1);
    expect(lines).toContain('tether:server:conn');
    expect(lines).not.toContain('tether:server:request');
    expect(lines.filter((l) => l.startsWith('tether:client'))).toEqual([]);
  });
});

/** A bus implementation whose store fails with plain errors, as a third-party bus might. */
class FailingBus extends MemoryBus {
  failing = false;
  override async history(room: string, after: RoomPosition | undefined, limit: number): Promise<HistoryPage> {
    if (this.failing) throw new Error('socket closed');
    return super.history(room, after, limit);
  }
  override async publish(publication: Publication): Promise<PublishResult> {
    if (this.failing) throw new Error('socket closed');
    return super.publish(publication);
  }
}

describe('bus failures', () => {
  it('surface as BUS_UNAVAILABLE, never INTERNAL, whatever the bus rejects with', async () => {
    const bus = new FailingBus();
    const n = await node({ bus, authorizeJoin: () => true });
    const client = n.client();
    await client.join('fine');
    bus.failing = true;
    const join = await rejectionOf(client.join('broken'));
    expect(join.code).toBe('BUS_UNAVAILABLE');
    expect(join.message).toMatch(/socket closed/);
    const publish = await rejectionOf(n.tether.to('broken').emit('x', 1));
    expect(publish.code).toBe('BUS_UNAVAILABLE');
  });
});
