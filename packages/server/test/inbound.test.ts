import type { TetherError } from '@tether/client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Logger, TetherError as ServerTetherError, type TetherServerOptions } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

// Inbound hooks (`tether.use`), and the safe defaults: presence shows nothing of conn.data unless
// told, a handler's unexpected throw is logged and reaches the client as a generic HANDLER_ERROR.

const nodes: TestNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

/** A logger that keeps what is logged at warn and error. */
function recordingLogger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at =
    (level: string) =>
    (obj: unknown, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
    };
  const logger: Logger = { debug() {}, info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

async function node(options: TetherServerOptions = {}): Promise<TestNode> {
  const started = await startNode({
    authenticate: (_req, auth) => ({ userId: (auth as { user: string }).user, email: 'ann@example.com' }),
    authorizeJoin: () => true,
    ...options,
  });
  nodes.push(started);
  return started;
}

describe('inbound hooks (tether.use)', () => {
  it('see events and requests with their connection after authenticate, and refuse them', async () => {
    const server = await node();
    const seen: string[] = [];
    server.tether.use((conn, event, data) => {
      seen.push(`${(conn.data as { userId: string }).userId}:${event}:${JSON.stringify(data)}`);
      if (event === 'doc:edit') throw new ServerTetherError('FORBIDDEN', 'read-only user');
    });
    const handled: string[] = [];
    server.tether.on('connection', (conn) => {
      conn.on('doc:edit', () => {
        handled.push('edit');
        return 'edited';
      });
      conn.on('doc:read', () => {
        handled.push('read');
        return 'text';
      });
      conn.on('typing', () => void handled.push('typing'));
    });
    const client = server.client({ auth: { user: 'ann' } });
    await waitForState(client, 'open');
    const errors: TetherError[] = [];
    client.on('error', (e) => errors.push(e));

    // A refused request: an error reply with the hook's code; the handler never ran.
    const refused = await rejectionOf(client.request('doc:edit', { at: 1 }));
    expect(refused).toMatchObject({ code: 'FORBIDDEN', message: 'read-only user' });
    // A refused emit: an error event on the client, nothing handled.
    client.emit('doc:edit', { at: 2 });
    client.emit('typing', true);
    expect(await client.request('doc:read')).toBe('text');
    await until(() => errors.length === 1, 5_000, 'the refusal of the emit');
    expect(errors[0]).toMatchObject({ code: 'FORBIDDEN', message: 'doc:edit: read-only user' });
    expect(handled).toEqual(['typing', 'read']);
    expect(seen).toEqual([
      'ann:doc:edit:{"at":1}',
      'ann:doc:edit:{"at":2}',
      'ann:typing:true',
      'ann:doc:read:undefined',
    ]);
  });

  it('run in order; an async hook holds the connection’s later messages so they keep their order', async () => {
    const server = await node();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.tether.use(async (_conn, event) => {
      order.push(`hook1:${event}`);
      if (event === 'first') await gate;
    });
    server.tether.use((_conn, event) => void order.push(`hook2:${event}`));
    server.tether.on('connection', (conn) => {
      conn.on('first', () => void order.push('handler:first'));
      conn.on('second', () => {
        order.push('handler:second');
        return 'ok';
      });
    });
    const client = server.client({ auth: { user: 'ann' } });
    await waitForState(client, 'open');
    client.emit('first');
    const second = client.request('second');
    await until(() => order.length === 1, 5_000, 'the first hook running');
    expect(order).toEqual(['hook1:first']);
    release();
    expect(await second).toBe('ok');
    expect(order).toEqual([
      'hook1:first',
      'hook2:first',
      'handler:first',
      'hook1:second',
      'hook2:second',
      'handler:second',
    ]);
  });

  it('a hook that throws something else is logged and refuses with a generic HANDLER_ERROR', async () => {
    const { logger, lines } = recordingLogger();
    const server = await node({ logger });
    server.tether.use(() => {
      throw new Error('db down: password=hunter2');
    });
    server.tether.on('connection', (conn) => conn.on('x', () => 1));
    const client = server.client({ auth: { user: 'ann' } });
    await waitForState(client, 'open');
    const err = await rejectionOf(client.request('x'));
    expect(err.code).toBe('HANDLER_ERROR');
    expect(err.message).not.toContain('hunter2');
    expect(lines.find((l) => l.msg === 'inbound hook threw')?.obj).toMatchObject({ event: 'x' });
  });
});

describe('handler errors', () => {
  it('a thrown Error is logged (event, connection) and reaches the client without its message', async () => {
    const { logger, lines } = recordingLogger();
    const server = await node({ logger });
    server.tether.on('connection', (conn) => {
      conn.on('sync', () => {
        throw new TypeError('db exploded: password=hunter2');
      });
      conn.on('async', async () => {
        throw new Error('also secret');
      });
      conn.on('mine', () => {
        throw new ServerTetherError('OUT_OF_STOCK', 'no more left');
      });
    });
    const client = server.client({ auth: { user: 'ann' } });
    await waitForState(client, 'open');
    const sync = await rejectionOf(client.request('sync'));
    const async = await rejectionOf(client.request('async'));
    expect([sync.code, async.code]).toEqual(['HANDLER_ERROR', 'HANDLER_ERROR']);
    expect(`${sync.message} ${async.message}`).not.toMatch(/hunter2|secret/);
    // A TetherError is the app speaking to its client: code and message go through.
    expect(await rejectionOf(client.request('mine'))).toMatchObject({
      code: 'OUT_OF_STOCK',
      message: 'no more left',
    });
    const logged = lines.filter((l) => l.msg === 'request handler failed');
    expect(logged.map((l) => [l.level, l.obj.event, l.obj.connId])).toEqual([
      ['warn', 'sync', client.connectionId],
      ['warn', 'async', client.connectionId],
    ]);
    expect(String((logged[0]!.obj.err as Error).message)).toContain('hunter2');
  });
});

describe('presence defaults', () => {
  it('shows nothing of conn.data unless presenceData says what, to clients and to the server', async () => {
    const quiet = await node();
    const client = quiet.client({ auth: { user: 'ann' } });
    const room = await client.join('lobby');
    const members = await room.presence();
    expect(members).toEqual([{ connId: client.connectionId }]);
    expect(await quiet.tether.in('lobby').presence()).toEqual([
      { connId: client.connectionId, data: undefined },
    ]);

    const told = await node({ presenceData: (conn) => ({ name: (conn.data as { userId: string }).userId }) });
    const other = told.client({ auth: { user: 'bob' } });
    const lobby = await other.join('lobby');
    expect(await lobby.presence()).toEqual([{ connId: other.connectionId, data: { name: 'bob' } }]);
    expect(JSON.stringify(await told.tether.in('lobby').presence())).not.toContain('example.com');
  });
});

describe('credentials off the URL', () => {
  it('refuses credentials in the query string (400), for WebSocket and SSE alike', async () => {
    const { logger, lines } = recordingLogger();
    const server = await node({ logger });
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}?auth=eyJ1c2VyIjoiYW5uIn0`, [
      'tether.v1.json',
    ]);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(400);
    const sse = await fetch(`${server.url}?transport=sse&auth=eyJ1c2VyIjoiYW5uIn0`);
    expect(sse.status).toBe(400);
    expect(((await sse.json()) as { error: { code: string } }).error.code).toBe('BAD_MESSAGE');
    expect(lines.filter((l) => l.msg === 'connection refused').length).toBeGreaterThanOrEqual(1);
  });

  it('still authenticates from cookies and headers at the upgrade (401 before it when refused)', async () => {
    const server = await node({
      authenticate: (req) => (req.headers.cookie === 'session=ok' ? { userId: 'ann' } : null),
    });
    const upgrade = (cookie: string) =>
      new Promise<number | 'open'>((resolve) => {
        const ws = new WebSocket(server.url.replace('http', 'ws'), ['tether.v1.json'], {
          headers: { cookie },
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          resolve('open');
          ws.terminate();
        });
        ws.on('error', () => {});
      });
    expect(await upgrade('session=ok')).toBe('open');
    expect(await upgrade('session=stolen')).toBe(401);
  });
});
