import type { IncomingMessage } from 'node:http';
import type { TetherClientOptions } from '@tether/client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Connection, type TetherServerOptions, withExpiry } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';
import { openStream } from './sse-helpers.js';

// Identity over real sockets (docs/security.md): sessions bound to their user, credentials that
// expire and are refreshed on the open connection, over WebSocket and SSE alike.

const nodes: TestNode[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const node of nodes.splice(0)) await node.close();
});

type Wire = Record<string, unknown> & { t: string };
type StoredState = ReturnType<ReturnType<NonNullable<TetherClientOptions['persistence']>>['load']>;
type Credentials = { user: string; v?: number; ttl?: number; rooms?: string[] } | undefined;

/** `authenticate` of these tests: the user named in the credentials, valid for `ttl` ms when given. */
function authenticate(_req: IncomingMessage, auth: unknown) {
  const credentials = auth as Credentials;
  if (!credentials?.user || credentials.user === 'nobody') return null;
  const data = { userId: credentials.user, v: credentials.v ?? 1, rooms: credentials.rooms ?? [] };
  return credentials.ttl ? withExpiry(data, Date.now() + credentials.ttl) : data;
}

async function node(options: TetherServerOptions = {}): Promise<TestNode> {
  const started = await startNode({
    authenticate,
    authorizeJoin: (conn, room) => (conn.data as { rooms: string[] }).rooms.includes(room),
    ...options,
  });
  nodes.push(started);
  return started;
}

/** A connection by hand over WebSocket: credentials and session in its hello, every message kept. */
async function rawWebSocket(url: string, hello: Record<string, unknown>) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?ah=1`, ['tether.v1.json']);
  cleanups.push(() => ws.terminate());
  const received: Wire[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data) => received.push(JSON.parse(data.toString()) as Wire));
  ws.on('error', () => {});
  await new Promise<void>((resolve) => ws.on('open', () => resolve()));
  ws.send(JSON.stringify({ t: 'hello', ...hello }));
  await until(() => received.some((m) => m.t === 'welcome'), 5_000, 'a welcome');
  const welcome = received.find((m) => m.t === 'welcome')!;
  return { ws, received, closed, welcome, send: (m: Wire) => ws.send(JSON.stringify(m)) };
}

/** A connection by hand over SSE: the stream (credentials come in the hello, `ah=1`), POSTs with its token. */
async function rawSse(url: string, hello: Record<string, unknown>) {
  const stream = await openStream(`${url}?transport=sse&ah=1`);
  cleanups.push(() => stream.close());
  const open = await stream.next((e) => e.event === 'open');
  const { token } = JSON.parse(open.data) as { token: string };
  const send = (m: Wire) =>
    fetch(`${url}?transport=sse&token=${encodeURIComponent(token)}`, {
      method: 'POST',
      body: JSON.stringify(m),
    }).then((r) => r.body?.cancel());
  const received = () =>
    stream.events.filter((e) => e.event === undefined).map((e) => JSON.parse(e.data) as Wire);
  await send({ t: 'hello', ...hello });
  const welcome = JSON.parse((await stream.next((e) => e.data.includes('"welcome"'))).data) as Wire;
  return { stream, received, welcome, send };
}

describe.each(['websocket', 'sse'] as const)('session takeover over %s', (transport) => {
  it("another user's session id and secret start a new session that learns nothing of it", async () => {
    const server = await node();
    const seen: Connection[] = [];
    server.tether.on('connection', (conn) => seen.push(conn));
    // Alice connects by hand (so the test holds her sid and sk) and drops: her session waits.
    const alice = await rawWebSocket(server.url, { a: { user: 'alice' } });
    const { sid, sk } = alice.welcome as unknown as { sid: string; sk: string };
    alice.ws.terminate();
    await until(() => seen[0]?.state === 'closed', 5_000, "alice's connection closed");
    // A push for Alice, waiting for her session to come back.
    const push = seen[0]!.request('secret', { pin: 1234 }, { timeout: 60_000, retries: 3 });

    // Mallory, logged in as herself, presents Alice's pair.
    const hello = { a: { user: 'mallory' }, sid, sk };
    const mallory =
      transport === 'websocket' ? await rawWebSocket(server.url, hello) : await rawSse(server.url, hello);
    expect(mallory.welcome).toMatchObject({ rs: 0 });
    expect(mallory.welcome.sid).not.toBe(sid);
    expect(seen[1]?.sessionId).not.toBe(sid);
    // Her forged ack of the push (its id is guessable: the node's first server request).
    const pushId = `${server.tether.nodeId}.1`;
    await mallory.send({ t: 'res', id: pushId, d: 'forged' });
    // A round trip as a fence: everything the server sent her before its reply has arrived.
    seen[1]!.on('ping', () => 'pong');
    await mallory.send({ t: 'req', id: 'fence', e: 'ping' });
    const messages = () =>
      transport === 'websocket'
        ? (mallory as { received: Wire[] }).received
        : (mallory as { received: () => Wire[] }).received();
    await until(() => messages().some((m) => m.t === 'res' && m.id === 'fence'), 5_000, 'the fence reply');
    expect(messages().filter((m) => m.t === 'req')).toEqual([]);

    // Alice comes back: her session resumes, the push reaches her, her answer settles it.
    const back = await rawWebSocket(server.url, { a: { user: 'alice' }, sid, sk });
    expect(back.welcome).toMatchObject({ sid, rs: 1 });
    await until(() => back.received.some((m) => m.t === 'req'), 5_000, 'the push on the resumed session');
    const request = back.received.find((m) => m.t === 'req')!;
    expect(request).toMatchObject({ id: pushId, e: 'secret', d: { pin: 1234 } });
    back.send({ t: 'res', id: pushId, d: 'from alice' });
    expect(await push).toBe('from alice');
  });
});

describe('a second hello for a live session', () => {
  it("by another user leaves the owner alone; by the owner's own credentials moves the owner to a new session, still open", async () => {
    const server = await node();
    const stored = storage();
    const alice = server.client({
      auth: { user: 'alice' },
      transports: ['websocket'],
      persistence: stored.persistence,
    });
    await waitForState(alice, 'open');
    const first = alice.sessionId!;
    await until(() => stored.session()?.sid === first, 5_000, 'the session in storage');
    const disconnects: number[] = [];
    alice.on('tether:disconnect', (d) => disconnects.push(d.code));
    // The pair is in Alice's storage; Mallory has it but not Alice's credentials.
    const session = { sid: first, sk: stored.session()!.sk };
    const mallory = await rawWebSocket(server.url, { a: { user: 'mallory' }, ...session });
    expect(mallory.welcome).toMatchObject({ rs: 0 });
    expect(disconnects).toEqual([]);
    expect(alice.state).toBe('open');

    // A second tab of Alice's with the same stored pair takes the session over: Alice's first
    // client is told 4409, starts a session of its own, and is open again.
    const states: string[] = [];
    alice.on('state', (s) => states.push(s));
    await rawWebSocket(server.url, { a: { user: 'alice' }, ...session });
    await until(() => states.at(-1) === 'open' && disconnects.length === 1, 10_000, 'alice open again');
    expect(disconnects).toEqual([4409]);
    expect(alice.sessionId).not.toBe(first);
  });
});

/**
 * What a page's storage would hold: a persistence store that keeps the client's last snapshot
 * (rooms and the session id and secret), as `persistTo(localStorage)` does.
 */
function storage() {
  let last: StoredState | undefined;
  return {
    session: () => last?.session,
    persistence: () => ({
      load: (): StoredState => ({ rooms: {}, serverRooms: {} }),
      schedule: (snapshot: () => StoredState) => {
        last = snapshot();
      },
      dispose() {},
    }),
  };
}
