import type { IncomingMessage } from 'node:http';
import type { ClientState, TetherError } from '@tether/client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, type TetherServerOptions, withExpiry } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

// Expiry and in-band refresh of credentials (docs/security.md, "Expiry and refresh") over real
// sockets, WebSocket and SSE alike: 2-second tokens, asked for before they run out.

const nodes: TestNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

type Credentials = { user: string; v: number; ttl?: number; rooms?: string[] };
type Data = { userId: string; v: number; rooms: string[] };

/** A node whose `authenticate` records every call (request and credentials) and honours `ttl`. */
async function node(options: TetherServerOptions = {}) {
  const calls: Array<{ req: IncomingMessage; auth: Credentials | undefined }> = [];
  const connections: Connection[] = [];
  const closes: number[] = [];
  const started = await startNode({
    authenticate: (req, auth) => {
      const credentials = auth as Credentials | undefined;
      calls.push({ req, auth: credentials });
      if (!credentials || credentials.user === 'nobody') return null;
      const data: Data = { userId: credentials.user, v: credentials.v, rooms: credentials.rooms ?? ['a'] };
      return credentials.ttl ? withExpiry(data, Date.now() + credentials.ttl) : data;
    },
    authorizeJoin: (conn, room) => (conn.data as Data).rooms.includes(room),
    ...options,
  });
  started.tether.on('connection', (conn) => {
    connections.push(conn);
    conn.on('close', (_reason, code) => closes.push(code));
  });
  nodes.push(started);
  return { ...started, calls, connections, closes };
}

function once<T>(subscribe: (listener: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve) => subscribe(resolve));
}

describe.each(['websocket', 'sse'] as const)('refresh over %s', (transport) => {
  it('asks before a 2 s expiry; the client refreshes on the open connection; refused rooms are left', async () => {
    const server = await node();
    let version = 0;
    const client = server.client({
      transports: [transport],
      // The first credentials allow rooms a and b, every later one only a.
      auth: () => ({ user: 'ann', v: ++version, ttl: 2_000, rooms: version === 1 ? ['a', 'b'] : ['a'] }),
    });
    await waitForState(client, 'open');
    const states: ClientState[] = [];
    client.on('state', (s) => states.push(s));
    const a = await client.join('a');
    const b = await client.join('b');
    const fromA: unknown[] = [];
    const fromB: unknown[] = [];
    a.on('m', (d) => fromA.push(d));
    b.on('m', (d) => fromB.push(d));
    const bLeft = once<{ code: string | undefined }>((l) => b.on('tether:left', l));
    await server.tether.to('a').emit('m', 1);
    await server.tether.to('b').emit('m', 1);

    // Nobody calls refreshAuth: the server asks, half-way through the token's life.
    expect(await bLeft).toEqual({ code: 'JOIN_REFUSED' });
    expect(b.state).toBe('left');
    expect(server.calls).toHaveLength(2);
    expect(server.calls[1]!.auth).toMatchObject({ v: 2 });
    // authenticate ran again with the request that opened the connection (its headers, cookies).
    expect(server.calls[1]!.req).toBe(server.calls[0]!.req);
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]!.data).toMatchObject({ v: 2, rooms: ['a'] });
    expect(states).toEqual([]);

    // b is left on the server too; a goes on with nothing missed. Published b then a, so once
    // a's message is here, b's would have been.
    await server.tether.to('b').emit('m', 2);
    await server.tether.to('a').emit('m', 2);
    await until(() => fromA.length === 2, 5_000, "a's second message");
    expect(fromA).toEqual([1, 2]);
    expect(fromB).toEqual([1]);
    expect(await server.tether.in('b').presence()).toEqual([]);
    expect(client.state).toBe('open');
  });

  it('client.refreshAuth() resolves once conn.data is replaced, and rejects when refused (closed, 4401)', async () => {
    const server = await node();
    let version = 0;
    const client = server.client({
      transports: [transport],
      auth: () => (++version < 3 ? { user: 'ann', v: version } : { user: 'nobody', v: version }),
    });
    await waitForState(client, 'open');
    await client.refreshAuth();
    expect(server.connections[0]!.data).toMatchObject({ v: 2 });
    const errors: TetherError[] = [];
    client.on('error', (e) => errors.push(e));
    const err = await rejectionOf(client.refreshAuth());
    expect(err.code).toBe('UNAUTHORIZED');
    await waitForState(client, 'closed');
    expect(errors.map((e) => e.code)).toContain('UNAUTHORIZED');
    await until(() => server.closes.length === 1, 5_000, 'the server-side close');
    expect(server.closes).toEqual([4401]);
    expect(server.connections).toHaveLength(1);
  });

  it('credentials of another user close with 4411; the client comes back as that user, in a new session', async () => {
    const server = await node();
    let version = 0;
    const client = server.client({
      transports: [transport],
      auth: () => ({ user: ++version < 2 ? 'ann' : 'bob', v: version }),
    });
    await waitForState(client, 'open');
    const first = client.sessionId;
    await expect(client.refreshAuth()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await until(() => server.connections.length === 2 && client.state === 'open', 10_000, 'back as bob');
    expect(server.closes).toEqual([4411]);
    expect(server.connections[1]!.data).toMatchObject({ userId: 'bob' });
    expect(client.sessionId).not.toBe(first);
  });

  it('closes with 4440 when no refresh comes before the expiry; the client reconnects with fresh credentials', async () => {
    const server = await node();
    let calls = 0;
    const client = server.client({
      transports: [transport],
      // The refresh the server asks for never finishes: auth() hangs on its second call.
      auth: () => (++calls === 2 ? new Promise(() => {}) : { user: 'ann', v: calls, ttl: 1_500 }),
    });
    await waitForState(client, 'open');
    const disconnect = once<{ code: number; willReconnect: boolean }>((l) =>
      client.on('tether:disconnect', l),
    );
    expect(await disconnect).toMatchObject({ code: 4440, willReconnect: true });
    await until(() => server.connections.length === 2 && client.state === 'open', 10_000, 'reconnected');
    expect(server.closes).toEqual([4440]);
    expect(server.connections[1]!.data).toMatchObject({ v: 3 });
  });
});

describe('expiry at the handshake', () => {
  it('refuses credentials that have already expired, like any refusal (UNAUTHORIZED, closed)', async () => {
    const server = await node();
    const client = server.client({ transports: ['websocket'], auth: { user: 'ann', v: 1, ttl: -1 } });
    const error = once<TetherError>((l) => client.on('error', l));
    expect((await error).code).toBe('UNAUTHORIZED');
    await waitForState(client, 'closed');
    expect(server.connections).toHaveLength(0);
  });
});
