import { createHook } from 'node:async_hooks';
import { type ClientState, TetherClient, type TetherClientOptions, type TetherError } from '@tether/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { once, ScriptedServer, type ScriptedSocket } from './scripted-server.js';

// The client against a server that speaks the wire protocol by hand over a real socket: each case
// scripts the server's side and pins one client behaviour.

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

function connect(options: TetherClientOptions = {}): { client: TetherClient; states: ClientState[] } {
  const c = new TetherClient(server.url, {
    transports: ['websocket'],
    reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 },
    ...options,
  });
  client = c;
  const states: ClientState[] = [c.state];
  c.on('state', (s) => states.push(s));
  return { client: c, states };
}

const reached = (c: TetherClient, state: ClientState) =>
  c.state === state ? Promise.resolve() : once<ClientState>((l) => c.on('state', (s) => s === state && l(s)));

async function open(options: TetherClientOptions = {}) {
  const made = connect(options);
  const socket = await server.nextConnection();
  const hello = await socket.welcome();
  await reached(made.client, 'open');
  return { ...made, socket, hello };
}

/** Drops the connection from the server's side and welcomes the next one. */
async function reconnect(
  c: TetherClient,
  socket: ScriptedSocket,
): Promise<{ socket: ScriptedSocket; hello: unknown }> {
  const index = server.connections.length;
  socket.cut();
  const next = await server.connection(index);
  const hello = await next.welcome({ cid: `cid-${index + 1}`, rs: 1 });
  await reached(c, 'open');
  return { socket: next, hello };
}

describe('state machine', () => {
  it('goes connecting -> open on welcome and sends hello first, without a session', async () => {
    const { client: c, states, socket, hello } = await open();
    expect(states).toEqual(['connecting', 'open']);
    expect(socket.received[0]).toBe(hello);
    expect(hello).toEqual({ t: 'hello' });
    expect(c.connectionId).toBe('cid-1');
    expect(c.sessionId).toBe('sid-1');
    expect(c.transport).toBe('websocket');
  });

  it('goes open -> reconnecting -> open after a cut, resuming the session in hello', async () => {
    const { client: c, states, socket } = await open();
    const { hello } = await reconnect(c, socket);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(hello).toEqual({ t: 'hello', sid: 'sid-1', sk: 'sk-1' });
    expect(c.connectionId).toBe('cid-2');
  });

  it('stays in reconnecting across failed attempts and gives up after maxAttempts', async () => {
    const { client: c, states } = connect({ reconnect: { initialDelay: 1, jitter: 0, maxAttempts: 3 } });
    const errors: TetherError[] = [];
    c.on('error', (e) => errors.push(e));
    // Every attempt is closed before a welcome.
    for (let i = 0; i < 4; i++) (await server.connection(i)).close(4500, 'boom');
    await reached(c, 'closed');
    expect(server.connections).toHaveLength(4);
    expect(states).toEqual(['connecting', 'reconnecting', 'closed']);
    expect(errors.map((e) => e.code)).toEqual(['CLOSED']);
  });

  it('waits at least the backoff schedule between attempts, growing by factor', async () => {
    const { client: c } = connect({
      reconnect: { initialDelay: 20, factor: 2, maxDelay: 80, jitter: 0, maxAttempts: 4 },
    });
    const at: number[] = [];
    for (let i = 0; i < 5; i++) {
      const socket = await server.connection(i);
      at.push(performance.now());
      socket.close(4500, 'boom');
    }
    await reached(c, 'closed');
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Lower bounds only: the machine may be slow, never early.
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual([20, 40, 80, 80][i]! - 2);
  });

  it('close() reaches closed, rejects waiting requests with CLOSED and closes the socket with 1000', async () => {
    const { client: c, socket, states } = await open();
    const pending = c.request('slow', 1);
    await socket.next('req');
    c.close();
    expect(c.state).toBe('closed');
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    expect((await socket.closed).code).toBe(1000);
    expect(states.at(-1)).toBe('closed');
  });

  it('close() leaves no timer behind', async () => {
    // Counts only the timers created during this test: a process-wide count also moves when a
    // timer left by an earlier test ends, which once made this test fail with nothing leaked.
    const live = new Set<number>();
    const hook = createHook({
      init(id, type) {
        if (type === 'Timeout') live.add(id);
      },
      destroy(id) {
        live.delete(id);
      },
    }).enable();
    try {
      const { client: c, socket } = await open({ connectTimeout: 60_000, requestTimeout: 60_000 });
      const room = c.join('r1');
      const join = await socket.next('join');
      socket.send({ t: 'res', id: join.id, d: { ep: 'e', off: 0 } });
      await room;
      void c.request('never', 1).catch(() => {});
      await socket.next('req');
      expect(live.size).toBeGreaterThan(0);
      c.close();
      // The socket library keeps a timer of its own until the close handshake ends: wait for that
      // (in event-loop turns, not time), then nothing started during the test is left.
      await socket.closed;
      for (let turn = 0; turn < 1_000 && live.size > 0; turn++)
        await new Promise((resolve) => setImmediate(resolve));
      expect(live.size).toBe(0);
    } finally {
      hook.disable();
    }
  });
});

describe('refusals and close codes', () => {
  it.each([
    [4401, 'UNAUTHORIZED'],
    [4403, 'FORBIDDEN'],
  ])('close %i is fatal: closed, an error with code %s, no reconnect', async (code, errorCode) => {
    const { client: c, socket, states } = await open();
    const error = once<TetherError>((l) => c.on('error', l));
    socket.close(code, 'no');
    expect((await error).code).toBe(errorCode);
    expect(c.state).toBe('closed');
    expect(states).toEqual(['connecting', 'open', 'closed']);
  });

  it('an upgrade refused with HTTP 401 closes the client with UNAUTHORIZED', async () => {
    server.refuseWith = 401;
    const { client: c } = connect();
    const error = await once<TetherError>((l) => c.on('error', l));
    expect(error.code).toBe('UNAUTHORIZED');
    await reached(c, 'closed');
    expect(server.upgrades).toBe(1);
  });

  it('an upgrade refused with HTTP 429 is retried with backoff', async () => {
    server.refuseWith = 429;
    const { client: c } = connect();
    await server.until(() => server.upgrades >= 3);
    expect(c.state).toBe('reconnecting');
    server.refuseWith = undefined;
    await (await server.nextConnection()).welcome();
    await reached(c, 'open');
  });

  it('a 4503 bye comes back within the hinted spread, not the long backoff', async () => {
    const { client: c, socket } = await open({ reconnect: { initialDelay: 600_000, jitter: 0 } });
    socket.send({ t: 'bye', c: 4503, m: 'draining', rt: 20 });
    socket.close(4503, 'draining');
    await reached(c, 'reconnecting');
    await (await server.connection(1)).welcome();
    await reached(c, 'open');
  });

  it('a missed heartbeat drops the connection with 4008 and reconnects', async () => {
    const c = connect().client;
    const socket = await server.nextConnection();
    await socket.welcome({ hb: [30, 30] });
    await reached(c, 'open');
    expect((await socket.closed).code).toBe(4008);
    await (await server.connection(1)).welcome();
    await reached(c, 'open');
  });

  it('ignores a late welcome from a transport it already gave up on', async () => {
    const { client: c, states } = connect({ connectTimeout: 100 });
    const first = await server.connection(0);
    await first.next('hello');
    const second = await server.connection(1); // the connect timeout moved on
    first.send({ t: 'welcome', sid: 'old', sk: 'old', cid: 'old', rs: 0, hb: [60_000, 60_000], mp: 1_000 });
    await second.welcome({ cid: 'new' });
    await reached(c, 'open');
    expect(c.connectionId).toBe('new');
    expect(states.filter((s) => s === 'open')).toHaveLength(1);
  });
});

describe('requests and emits', () => {
  it('resends a pending request with the same id (rt: 1) after a reconnect', async () => {
    const { client: c, socket } = await open();
    const reply = c.request('work', { n: 1 });
    const first = await socket.next('req');
    expect(first.rt).toBeUndefined();
    const { socket: next } = await reconnect(c, socket);
    const again = await next.next('req');
    expect(again).toMatchObject({ id: first.id, e: 'work', d: { n: 1 }, rt: 1 });
    next.send({ t: 'res', id: again.id, d: 'done' });
    expect(await reply).toBe('done');
  });

  it('an error reply rejects at once and is never retried', async () => {
    const { client: c, socket } = await open();
    const reply = c.request('boom', 1, { retries: 3, timeout: 60_000 });
    const req = await socket.next('req');
    socket.send({ t: 'err', id: req.id, c: 'HANDLER_ERROR', m: 'nope' });
    await expect(reply).rejects.toMatchObject({ code: 'HANDLER_ERROR', message: 'nope' });
    // A fence: the next request is the only other one on the wire.
    void c.request('fence', 1).catch(() => {});
    await socket.next('req');
    expect(socket.all('req').map((m) => m.e)).toEqual(['boom', 'fence']);
  });

  it('a request larger than the welcome mp rejects without being sent', async () => {
    const c = connect().client;
    const socket = await server.nextConnection();
    await socket.welcome({ mp: 200 });
    await reached(c, 'open');
    await expect(c.request('big', 'x'.repeat(500))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    c.emit('fence');
    await socket.next('evt');
    expect(socket.all('req')).toHaveLength(0);
  });

  it('flushes emits buffered while offline in order, before nothing else is lost', async () => {
    const c = connect({ autoConnect: false }).client;
    c.connect();
    for (let i = 0; i < 5; i++) expect(c.emit('n', i)).toBe(true);
    expect(c.emit('typing', 1, { volatile: true })).toBe(false);
    const socket = await server.nextConnection();
    await socket.welcome();
    for (let i = 0; i < 5; i++) expect((await socket.next('evt')).d).toBe(i);
    expect(socket.all('evt').some((m) => m.e === 'typing')).toBe(false);
  });

  it('reports BUFFER_FULL when the offline buffer is full', async () => {
    const c = connect({ maxBufferedEmits: 2 }).client;
    const error = once<TetherError>((l) => c.on('error', l));
    expect(c.emit('a', 1)).toBe(true);
    expect(c.emit('a', 2)).toBe(true);
    expect(c.emit('a', 3)).toBe(false);
    expect((await error).code).toBe('BUFFER_FULL');
  });

  it('answers a server request once; a retry with the same id gets the stored reply', async () => {
    const { client: c, socket } = await open();
    let runs = 0;
    c.on('ask', (d) => {
      runs++;
      return { echo: d };
    });
    socket.send({ t: 'req', id: 'q1', e: 'ask', d: 7 });
    expect(await socket.next('res')).toEqual({ t: 'res', id: 'q1', d: { echo: 7 } });
    socket.send({ t: 'req', id: 'q1', e: 'ask', d: 7 });
    expect(await socket.next('res')).toEqual({ t: 'res', id: 'q1', d: { echo: 7 } });
    expect(runs).toBe(1);
  });

  it('a throwing error listener is not called again with its own error', async () => {
    const c = connect({ maxBufferedEmits: 0 }).client;
    const thrown = new Error('listener broke');
    const seen: unknown[] = [];
    c.on('error', (e) => {
      seen.push(e);
      throw thrown;
    });
    const later: Array<() => void> = [];
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => void later.push(task));
    try {
      c.emit('x', 1); // BUFFER_FULL
    } finally {
      spy.mockRestore();
    }
    expect(seen).toHaveLength(1);
    expect((seen[0] as TetherError).code).toBe('BUFFER_FULL');
    // The listener's own error goes to the console through a microtask, thrown as it was.
    expect(later).toHaveLength(1);
    expect(() => later[0]!()).toThrow(thrown);
  });
});

describe('rooms', () => {
  async function joined(socket: ScriptedSocket, c: TetherClient, name: string, d: unknown) {
    const room = c.join(name);
    const join = await socket.next('join');
    socket.send({ t: 'res', id: join.id, d });
    return { room: await room, join };
  }

  it('a refused join rejects with the server code', async () => {
    const { client: c, socket } = await open();
    const room = c.join('secret');
    const join = await socket.next('join');
    socket.send({ t: 'err', id: join.id, c: 'JOIN_REFUSED', m: 'no' });
    await expect(room).rejects.toMatchObject({ code: 'JOIN_REFUSED' });
  });

  it('rejoins from the last position after a reconnect and reports recovered: true', async () => {
    const { client: c, socket } = await open();
    const { room, join } = await joined(socket, c, 'r', { ep: 'e1', off: 3 });
    expect(join).toMatchObject({ r: 'r' });
    expect(join.ep).toBeUndefined();
    const got: number[] = [];
    room.on('m', (_d, meta) => got.push(meta.offset));
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 4 });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 5 });
    await vi.waitUntil(() => got.length === 2);
    const rejoined = once<{ recovered: boolean }>((l) => room.on('tether:rejoined', l));
    const { socket: next } = await reconnect(c, socket);
    const rejoin = await next.next('join');
    expect(rejoin).toMatchObject({ r: 'r', ep: 'e1', off: 5 });
    next.send({ t: 'res', id: rejoin.id, d: { ep: 'e1', off: 7, rec: 1 } });
    next.send({ t: 'msg', r: 'r', e: 'm', off: 5 }); // a duplicate: dropped
    next.send({ t: 'msg', r: 'r', e: 'm', off: 6 });
    expect(await rejoined).toEqual({ recovered: true });
    await vi.waitUntil(() => got.length === 3);
    expect(got).toEqual([4, 5, 6]);
    expect(room.position).toEqual(['e1', 6]);
  });

  it('reports recovered: false when history did not reach back', async () => {
    const { client: c, socket } = await open();
    const { room } = await joined(socket, c, 'r', { ep: 'e1', off: 0 });
    const rejoined = once<{ recovered: boolean }>((l) => room.on('tether:rejoined', l));
    const { socket: next } = await reconnect(c, socket);
    const rejoin = await next.next('join');
    next.send({ t: 'res', id: rejoin.id, d: { ep: 'e1', off: 900, rec: 0 } });
    expect(await rejoined).toEqual({ recovered: false });
    expect(room.recovered).toBe(false);
    expect(room.position).toEqual(['e1', 900]);
  });

  it('delivers messages of server-joined rooms to client.on and resumes them through hello', async () => {
    const { client: c, socket } = await open();
    const got: Array<[unknown, number | undefined]> = [];
    c.on('news', (d, meta) => got.push([d, meta?.offset]));
    socket.send({ t: 'joined', r: 'feed', ep: 'e9', off: 10 });
    socket.send({ t: 'msg', r: 'feed', e: 'news', d: 'a', off: 11 });
    socket.send({ t: 'msg', r: 'feed', e: 'news', d: 'a', off: 11 });
    socket.send({ t: 'msg', r: 'feed', e: 'news', d: 'b', off: 12 });
    await vi.waitUntil(() => got.length === 2);
    expect(got).toEqual([
      ['a', 11],
      ['b', 12],
    ]);
    const { hello } = await reconnect(c, socket);
    expect(hello).toMatchObject({ rooms: { feed: ['e9', 12] } });
  });

  it('emits tether:recovery-failed for a server-joined room the server could not recover', async () => {
    const { client: c, socket } = await open();
    const failed = once<{ room: string }>((l) => c.on('tether:recovery-failed', l));
    socket.send({ t: 'joined', r: 'feed', ep: 'e9', off: 50, rec: 0 });
    expect(await failed).toEqual({ room: 'feed' });
  });

  it('delivers presence changes to the room and to client.on', async () => {
    const { client: c, socket } = await open();
    const { room } = await joined(socket, c, 'r', { ep: 'e1', off: 2 });
    const onRoom = once<unknown>((l) => room.on('tether:presence', l));
    const onClient = once<unknown>((l) => c.on('tether:presence', l));
    const change = { type: 'join', member: { connId: 'c7', data: null } };
    socket.send({ t: 'msg', r: 'r', e: 'tether:presence', d: change, off: 2, v: 1 });
    expect(await onRoom).toEqual(change);
    expect(await onClient).toEqual(change);
  });

  it('sends leave for a left room while open', async () => {
    const { client: c, socket } = await open();
    const { room } = await joined(socket, c, 'r', { ep: 'e1', off: 0 });
    room.leave();
    expect(await socket.next('leave')).toEqual({ t: 'leave', r: 'r' });
    expect(room.state).toBe('left');
  });
});
