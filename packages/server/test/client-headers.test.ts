import type { IncomingMessage } from 'node:http';
import { TetherClient, type TetherError } from '@tether/client';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, type Connection, ErrorCode } from '../src/index.js';
import { startNode, type TestNode, waitForState } from './harness.js';

// The Node client's `headers` option over real sockets: what `authenticate(req)` sees on the
// WebSocket upgrade and on the SSE stream, what every SSE request carries, a function read on
// each connect attempt, and the mistakes it reports.

let node: TestNode | undefined;

afterEach(async () => {
  await node?.close();
  node = undefined;
});

/** A node whose `authenticate` keeps the `x-session` header it saw as `conn.data`. */
async function start() {
  const conns: Connection[] = [];
  const requests: IncomingMessage[] = [];
  node = await startNode({
    authenticate: (req) => {
      const session = req.headers['x-session'];
      return typeof session === 'string' ? { session } : null;
    },
  });
  node.tether.on('connection', (conn) => {
    conns.push(conn);
    conn.on('session', () => (conn.data as { session: string }).session);
  });
  // Tether keeps its own requests from 'request' listeners: look from outside its wrapper.
  const emit = node.http.emit.bind(node.http) as (event: string | symbol, ...args: unknown[]) => boolean;
  node.http.emit = ((event: string | symbol, ...args: unknown[]) => {
    const req = args[0] as IncomingMessage;
    if (event === 'request' && req.url?.startsWith('/tether')) requests.push(req);
    return emit(event, ...args);
  }) as typeof node.http.emit;
  return { node, conns, requests };
}

describe('the Node client headers option', () => {
  for (const transport of ['websocket', 'sse'] as const) {
    it(`reaches authenticate(req) over ${transport}`, async () => {
      const { node } = await start();
      const client = node.client({ headers: { 'x-session': 's-1' }, transports: [transport] });
      expect(await client.request('session')).toBe('s-1');
      expect(client.transport).toBe(transport);
    });
  }

  it("goes on every SSE request, beside the transport's own content-type", async () => {
    const { node, requests } = await start();
    const client = node.client({ headers: { 'x-session': 's-2' }, transports: ['sse'] });
    const room = await client.join('nope').catch((err: TetherError) => err);
    expect((room as TetherError).code).toBe(ErrorCode.JoinRefused);
    expect(await client.request('session')).toBe('s-2');
    const posts = requests.filter((req) => req.method === 'POST');
    expect(posts.length).toBeGreaterThan(0);
    expect(requests.filter((req) => req.method === 'GET')).toHaveLength(1);
    expect(requests.every((req) => req.headers['x-session'] === 's-2')).toBe(true);
    expect(posts.every((req) => req.headers['content-type']?.startsWith('text/plain'))).toBe(true);
  });

  it('calls a headers function on each connect attempt', async () => {
    const { node, conns } = await start();
    let calls = 0;
    const client = node.client({
      headers: () => ({ 'x-session': `s-${++calls}` }),
      transports: ['websocket'],
    });
    expect(await client.request('session')).toBe('s-1');
    const reopened = new Promise<void>((resolve) =>
      client.on(
        'state',
        (state) => state === 'reconnecting' && client.on('state', (s) => s === 'open' && resolve()),
      ),
    );
    conns[0]!.close(CloseCode.InternalError, 'drop for the test');
    await reopened;
    expect(await client.request('session')).toBe('s-2');
    expect(calls).toBe(2);
  });

  it('a headers function that throws closes the client with UNAUTHORIZED, naming it', async () => {
    const { node } = await start();
    const client = node.client({
      headers: () => {
        throw new Error('no cookie jar');
      },
    });
    const error = new Promise<TetherError>((resolve) => client.on('error', resolve));
    await waitForState(client, 'closed');
    const err = await error;
    expect(err.code).toBe(ErrorCode.Unauthorized);
    expect(err.message).toContain('headers() failed: no cookie jar');
  });

  it('refuses headers Node cannot send, in the constructor', () => {
    const url = 'http://127.0.0.1:9/tether';
    const make = (headers: unknown) =>
      new TetherClient(url, { headers: headers as Record<string, string>, autoConnect: false });
    expect(() => make({ 'x-session': 42 })).toThrow(TypeError);
    expect(() => make({ 'bad name': 'x' })).toThrow(TypeError);
    expect(() => make({ cookie: 'a\r\nInjected: yes' })).toThrow(TypeError);
    expect(() => make(['cookie', 'a'])).toThrow(TypeError);
    expect(make({ cookie: 'a=1' }).state).toBe('closed');
  });
});
