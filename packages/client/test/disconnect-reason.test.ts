import { type ClientState, type DisconnectReason, TetherClient, type TetherError } from '@tether/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once, ScriptedServer } from './scripted-server.js';

// Why the client left `open` (`tether:disconnect`, `lastDisconnect`), and refused handshakes as
// `error` events with their code, against the scripted server over a real socket.

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

async function open(hb: [number, number] = [60_000, 60_000]) {
  const c = new TetherClient(server.url, {
    transports: ['websocket'],
    reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 },
  });
  client = c;
  const reasons: DisconnectReason[] = [];
  c.on('tether:disconnect', (r) => reasons.push(r));
  const socket = await server.nextConnection();
  await socket.welcome({ hb });
  await reached(c, 'open');
  return { client: c, socket, reasons };
}

const reached = (c: TetherClient, state: ClientState) =>
  c.state === state ? Promise.resolve() : once<ClientState>((l) => c.on('state', (s) => s === state && l(s)));

describe('disconnect reasons', () => {
  it('a cut connection reports 1006 and willReconnect, readable from the state listener', async () => {
    const { client: c, socket, reasons } = await open();
    const seenInState = once<DisconnectReason | undefined>((l) =>
      c.on('state', (s) => s === 'reconnecting' && l(c.lastDisconnect)),
    );
    socket.cut();
    expect(await seenInState).toEqual({ code: 1006, reason: '', willReconnect: true });
    expect(reasons).toEqual([{ code: 1006, reason: '', willReconnect: true }]);
  });

  it('a server close reports its code and reason', async () => {
    const { client: c, socket } = await open();
    const reason = once<DisconnectReason>((l) => c.on('tether:disconnect', l));
    socket.close(4500, 'server fault');
    expect(await reason).toEqual({ code: 4500, reason: 'server fault', willReconnect: true });
  });

  it('a fatal close reports willReconnect: false', async () => {
    const { client: c, socket } = await open();
    c.on('error', () => {});
    const reason = once<DisconnectReason>((l) => c.on('tether:disconnect', l));
    socket.close(4401, 'token expired');
    expect(await reason).toEqual({ code: 4401, reason: 'token expired', willReconnect: false });
    expect(c.state).toBe('closed');
  });

  it('close() reports 1000', async () => {
    const { client: c, reasons } = await open();
    c.close();
    expect(reasons).toEqual([{ code: 1000, reason: 'client closed', willReconnect: false }]);
    expect(c.lastDisconnect).toEqual(reasons[0]);
  });

  it('a missed heartbeat reports 4008', async () => {
    const { client: c } = await open([30, 30]);
    const reason = await once<DisconnectReason>((l) => c.on('tether:disconnect', l));
    expect(reason).toMatchObject({ code: 4008, willReconnect: true });
  });

  it('only changes out of open report: failed attempts while reconnecting do not', async () => {
    const { client: c, socket, reasons } = await open();
    socket.cut();
    (await server.connection(1)).close(4500, 'again');
    await (await server.connection(2)).welcome();
    await reached(c, 'open');
    expect(reasons).toHaveLength(1);
  });
});

describe('refused handshakes', () => {
  it('HTTP 429 is an error with TOO_MANY_CONNECTIONS, then retried with backoff', async () => {
    server.refuseWith = 429;
    const c = new TetherClient(server.url, {
      transports: ['websocket'],
      reconnect: { initialDelay: 5, jitter: 0 },
    });
    client = c;
    const errors: TetherError[] = [];
    c.on('error', (e) => errors.push(e));
    await server.until(() => server.upgrades >= 2);
    expect(errors[0]?.code).toBe('TOO_MANY_CONNECTIONS');
    expect(c.state).toBe('reconnecting');
  });

  it('HTTP 403 is an error with FORBIDDEN and ends closed', async () => {
    server.refuseWith = 403;
    const c = new TetherClient(server.url, { transports: ['websocket'] });
    client = c;
    const error = await once<TetherError>((l) => c.on('error', l));
    expect(error.code).toBe('FORBIDDEN');
    await reached(c, 'closed');
    expect(server.upgrades).toBe(1);
  });
});
