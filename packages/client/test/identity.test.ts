import { TetherClient, type TetherError } from '@tether/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once, ScriptedServer } from './scripted-server.js';

// The client's side of identity (docs/security.md): credentials in the hello, never in the URL;
// the in-band refresh; what each identity close code makes the client do. Against a scripted
// server over a real socket.

let server: ScriptedServer;
let client: TetherClient | undefined;

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await server.close();
});

function connect(auth?: () => unknown) {
  let calls = 0;
  const c = new TetherClient(server.url, {
    transports: ['websocket'],
    reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 },
    auth: auth ? () => auth() : () => ({ token: `t${++calls}` }),
  });
  client = c;
  return c;
}

async function opened(c: TetherClient, index = 0, extra: Record<string, unknown> = {}) {
  const socket = await server.connection(index);
  const hello = await socket.welcome({ sid: `sid-${index + 1}`, sk: `sk-${index + 1}`, ...extra });
  if (c.state !== 'open') await once((l) => c.on('state', (s) => s === 'open' && l(s)));
  return { socket, hello };
}

describe('credentials', () => {
  it('travel in the hello, never in the URL, which only says they come there (ah=1)', async () => {
    const c = connect();
    const { hello } = await opened(c);
    expect(hello).toEqual({ t: 'hello', a: { token: 't1' } });
    expect(server.urls).toEqual(['/tether?ah=1']);
    expect(server.urls[0]).not.toContain('t1');
  });

  it('a client without auth leaves the URL bare and the hello without a', async () => {
    const c = new TetherClient(server.url, { transports: ['websocket'] });
    client = c;
    const { hello } = await opened(c);
    expect(hello).toEqual({ t: 'hello' });
    expect(server.urls).toEqual(['/tether']);
  });
});

describe('refresh', () => {
  it('answers reauth with fresh credentials from auth() on the same connection', async () => {
    const c = connect();
    const { socket } = await opened(c);
    socket.send({ t: 'reauth', x: 1_000 });
    const auth = await socket.next('auth');
    expect(auth.a).toEqual({ token: 't2' });
    socket.send({ t: 'res', id: auth.id, d: {} });
    expect(server.connections).toHaveLength(1);
    expect(c.state).toBe('open');
  });

  it('refreshAuth() resolves when the server accepts, rejects with its code when it refuses', async () => {
    const c = connect();
    const { socket } = await opened(c);
    const accepted = c.refreshAuth();
    const first = await socket.next('auth');
    socket.send({ t: 'res', id: first.id, d: {} });
    await accepted;
    const refused = c.refreshAuth();
    const second = await socket.next('auth');
    expect(second.a).toEqual({ token: 't3' });
    socket.send({ t: 'err', id: second.id, c: 'UNAUTHORIZED', m: 'credentials refused' });
    await expect(refused).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('refreshAuth() rejects with CLOSED while not connected, and a pending one when the connection drops', async () => {
    const c = connect();
    c.close();
    await expect(c.refreshAuth()).rejects.toMatchObject({ code: 'CLOSED' });
    const d = connect();
    const { socket } = await opened(d, 0);
    const pending = d.refreshAuth();
    await socket.next('auth');
    socket.cut();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('identity close codes', () => {
  it.each([
    [4409, 'another connection took the session'],
    [4411, 'another user'],
  ])('%i: reconnects with a new session (no sid in the next hello), no error', async (code, reason) => {
    const c = connect();
    const errors: TetherError[] = [];
    c.on('error', (e) => errors.push(e));
    const { socket } = await opened(c);
    socket.close(code, reason);
    const { hello } = await opened(c, 1);
    expect(hello).toEqual({ t: 'hello', a: { token: 't2' } });
    expect(c.lastDisconnect).toEqual({ code, reason, willReconnect: true });
    expect(errors).toEqual([]);
  });

  it('4440 (expired without a refresh): reconnects, resuming its session with fresh credentials', async () => {
    const c = connect();
    const { socket } = await opened(c);
    socket.close(4440, 'credentials expired');
    const { hello } = await opened(c, 1);
    expect(hello).toEqual({ t: 'hello', sid: 'sid-1', sk: 'sk-1', a: { token: 't2' } });
  });

  it('4401 after a refused refresh: closed, UNAUTHORIZED, no reconnect', async () => {
    const c = connect();
    const { socket } = await opened(c);
    const error = once<TetherError>((l) => c.on('error', l));
    socket.close(4401, 'credentials refused');
    expect((await error).code).toBe('UNAUTHORIZED');
    expect(c.state).toBe('closed');
  });

  it('4029 before the welcome (a connection cap reached at the hello): TOO_MANY_CONNECTIONS, then retries', async () => {
    const c = connect();
    const error = once<TetherError>((l) => c.on('error', l));
    const first = await server.connection(0);
    await first.next('hello');
    first.close(4029, 'too many connections from this user');
    expect((await error).code).toBe('TOO_MANY_CONNECTIONS');
    await opened(c, 1);
  });
});

describe('server messages', () => {
  it('rej (an event refused by an inbound hook) reaches error listeners with its code', async () => {
    const c = connect();
    const { socket } = await opened(c);
    const error = once<TetherError>((l) => c.on('error', l));
    socket.send({ t: 'rej', e: 'doc:edit', c: 'FORBIDDEN', m: 'read-only' });
    expect(await error).toMatchObject({ code: 'FORBIDDEN', message: 'doc:edit: read-only' });
  });

  it('left with a code ends the room handle and tells it why (tether:left)', async () => {
    const c = connect();
    const { socket } = await opened(c);
    const joining = c.join('doc:1');
    const join = await socket.next('join');
    socket.send({ t: 'res', id: join.id, d: { ep: 'e', off: 0 } });
    const room = await joining;
    const left = once<{ code: string | undefined }>((l) => room.on('tether:left', l));
    socket.send({ t: 'left', r: 'doc:1', c: 'JOIN_REFUSED' });
    expect(await left).toEqual({ code: 'JOIN_REFUSED' });
    expect(room.state).toBe('left');
  });
});
