import { type Frame, jsonCodec, type Message } from '@tether/protocol';
import { describe, expect, it, vi } from 'vitest';
import { BroadcastOperator } from './broadcast.js';
import type { Delivery } from './bus.js';
import { type Connection, handleFor } from './connection.js';
import { type ConnectionContext, ConnectionEngine } from './connection-engine.js';
import { Inbound } from './inbound-hooks.js';
import type { Admitted } from './limits/admission.js';
import type { InboundRateLimiter } from './limits/rate-limiter.js';
import { Metrics } from './metrics.js';
import type { ServerTransport, TransportEvents } from './transports/transport.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function fakeTransport() {
  const sent: Frame[] = [];
  const transport: ServerTransport & { sent: Frame[] } = {
    kind: 'websocket',
    bufferedAmount: 0,
    sent,
    send: (frame) => void sent.push(frame),
    close() {},
    terminate() {},
    events: undefined as TransportEvents | undefined,
  };
  return transport;
}

/** A complete context, as the server builds one: the parts behind it are stand-ins that record. */
function testContext(calls: string[] = []): ConnectionContext {
  const counters = new Metrics();
  const inbound = new Inbound({
    logger: silent,
    counters,
    hooks: [],
    request: (_engine, message) => void calls.push(`request:${message.e}`),
    refresh: async () => {},
  });
  return {
    lowWaterBytes: 64 * 1024,
    maxBufferedBytes: 1024 * 1024,
    counters,
    logger: silent,
    clock: { now: 0, elapsed: 0 },
    pingFrame: (codec) => codec.encode({ t: 'ping' }),
    inbound: (engine, message) => inbound.handle(engine, message),
    reply: (_engine, message) => void calls.push(`reply:${message.id}`),
    clientJoin: async (_engine, message) => void calls.push(`join:${message.r}`),
    join: async (_engine, room) => {
      calls.push(`server-join:${room}`);
      return { ep: 'e', off: 0 };
    },
    leave: async (_engine, room) => void calls.push(`leave:${room}`),
    requestClient: async (_engine, event) => calls.push(`request-client:${event}`),
    broadcast: (room) =>
      new BroadcastOperator(async () => ({ epoch: 'e', offset: 1, duplicate: false }), room),
    closed: (_engine, code) => void calls.push(`closed:${code}`),
  };
}

function fakeAdmitted(limiter?: Partial<InboundRateLimiter>) {
  const admitted = {
    limiter: vi.fn(() => limiter as InboundRateLimiter | undefined),
    release: vi.fn(),
  } satisfies Admitted;
  return admitted;
}

function connection(admitted: Admitted = fakeAdmitted(), calls: string[] = []) {
  const transport = fakeTransport();
  const engine = new ConnectionEngine({
    id: 'n.1',
    sessionId: 's',
    data: undefined,
    transport,
    codec: jsonCodec,
    context: testContext(calls),
    handshake: { headers: {}, url: '/tether', address: '127.0.0.1' },
    admitted,
  });
  const handle: Connection = handleFor(engine);
  engine.handle = handle;
  return { conn: engine, handle, transport, calls };
}

const frame = (message: Message): Frame => jsonCodec.encode(message);

function delivery(room: string, offset: number): Delivery {
  return { room, event: 'm', data: offset, epoch: 'e', offset } as Delivery;
}

describe('Connection', () => {
  it('keeps handlers per event in registration order; off removes one or all of them', () => {
    const { conn: engine, handle: conn } = connection();
    const calls: string[] = [];
    const a1 = (d: unknown) => void calls.push(`a1:${d}`);
    const a2 = (d: unknown) => void calls.push(`a2:${d}`);
    const b = (d: unknown) => void calls.push(`b:${d}`);
    conn.on('a', a1).on('b', b).on('a', a2);
    expect(engine.handlersOf('a')).toEqual([a1, a2]);
    engine.onFrame(frame({ t: 'evt', e: 'a', d: 1 }));
    engine.onFrame(frame({ t: 'evt', e: 'b', d: 2 }));
    expect(calls).toEqual(['a1:1', 'a2:1', 'b:2']);
    conn.off('a', a1);
    expect(engine.handlersOf('a')).toEqual([a2]);
    conn.off('b');
    expect(engine.handlersOf('b')).toBeUndefined();
    expect(engine.handlersOf('a')).toEqual([a2]);
    conn.off('a', a2);
    expect(engine.handlersOf('a')).toBeUndefined();
    conn.on('b', b);
    expect(engine.handlersOf('b')).toBe(b); // a lone handler is kept as itself
  });

  it('runs a handler that a lone handler adds during dispatch, and a lone close listener', () => {
    const { conn: engine, handle: conn } = connection();
    const calls: string[] = [];
    const second = (d: unknown) => void calls.push(`second:${d}`);
    conn.on('a', (d: unknown) => {
      calls.push(`first:${d}`);
      if (d === 1) conn.on('a', second);
    });
    engine.onFrame(frame({ t: 'evt', e: 'a', d: 1 }));
    engine.onFrame(frame({ t: 'evt', e: 'a', d: 2 }));
    expect(calls).toEqual(['first:1', 'second:1', 'first:2', 'second:2']);
    const only = (reason: string) => void calls.push(`closed:${reason}`);
    conn.on('close', only).off('close', only).on('close', only);
    engine.onClose(1000, 'bye');
    expect(calls.at(-1)).toBe('closed:bye');
    expect(calls.filter((c) => c.startsWith('closed'))).toHaveLength(1);
  });

  it('calls every close listener once, except those removed', () => {
    const { conn: engine, handle: conn, calls: seen } = connection();
    const calls: string[] = [];
    const kept = (reason: string) => void calls.push(`kept:${reason}`);
    const removed = () => void calls.push('removed');
    conn
      .on('close', kept)
      .on('close', removed)
      .on('close', (_reason, code) => void calls.push(`code:${code}`));
    conn.off('close', removed);
    engine.onClose(1006, '');
    engine.onClose(1006, '');
    expect(calls).toEqual(['kept:connection lost', 'code:1006']);
    expect(seen).toEqual(['closed:1006']);
  });

  it('tracks rooms past the length of its short room list, delivering once per offset', () => {
    const { conn, handle, transport } = connection();
    const rooms = Array.from({ length: 12 }, (_, i) => `room-${i}`);
    for (const room of rooms) {
      expect(conn.beginJoin(room)).toBe(true);
      conn.completeJoin(room, 'e', 0, []);
    }
    expect(conn.beginJoin('room-3')).toBe(false);
    expect([...conn.roomNames()]).toEqual(rooms);
    for (const room of rooms) conn.deliver(delivery(room, 1), `frame:${room}`);
    conn.deliver(delivery('room-11', 1), 'again'); // seen already
    conn.deliver(delivery('elsewhere', 1), 'not a member');
    expect(transport.sent).toEqual(rooms.map((room) => `frame:${room}`));
    expect(conn.endMembership('room-0')).toBe(true);
    expect(conn.endMembership('room-0')).toBe(false);
    expect(handle.rooms.has('room-0')).toBe(false);
    expect(handle.rooms.size).toBe(11);
  });

  it('in a few rooms: joins, delivers and leaves each on its own', () => {
    const { conn, transport } = connection();
    expect(conn.endMembership('a')).toBe(false);
    conn.beginJoin('a');
    conn.beginJoin('b');
    conn.deliver(delivery('a', 1), 'waits for the join');
    expect(transport.sent).toEqual([]);
    conn.completeJoin('a', 'e', 0, []);
    conn.completeJoin('b', 'e', 0, []);
    expect(transport.sent).toHaveLength(1); // the live message held during the join
    conn.deliver(delivery('b', 1), 'b1');
    expect(conn.endMembership('a')).toBe(true);
    conn.deliver(delivery('a', 2), 'a2');
    expect(transport.sent.slice(1)).toEqual(['b1']);
    expect([...conn.roomNames()]).toEqual(['b']);
    expect(conn.endMembership('b')).toBe(true);
    expect([...conn.roomNames()]).toEqual([]);
  });

  it('makes its rate limiter at the first message that counts, not before, and disposes it on close', () => {
    const limiter = { admit: vi.fn(() => true), dispose: vi.fn() };
    const admitted = fakeAdmitted(limiter);
    const { conn } = connection(admitted);
    conn.onFrame(frame({ t: 'pong' }));
    expect(admitted.limiter).not.toHaveBeenCalled();
    conn.onFrame(frame({ t: 'evt', e: 'x' }));
    conn.onFrame(frame({ t: 'evt', e: 'x' }));
    expect(admitted.limiter).toHaveBeenCalledTimes(1);
    expect(limiter.admit).toHaveBeenCalledTimes(2);
    conn.onClose(1000, '');
    expect(limiter.dispose).toHaveBeenCalledTimes(1);
    expect(admitted.release).toHaveBeenCalledTimes(1);
  });

  it('handles nothing a refusing rate limiter refused', () => {
    const limiter = { admit: vi.fn(() => false), dispose: vi.fn() };
    const { conn, handle } = connection(fakeAdmitted(limiter));
    const handler = vi.fn();
    handle.on('x', handler);
    conn.onFrame(frame({ t: 'evt', e: 'x' }));
    expect(handler).not.toHaveBeenCalled();
  });

  it('hands requests, replies, joins and leaves to its context, and a join holds later frames', async () => {
    const { conn, handle, calls } = connection();
    conn.beginJoin('a');
    conn.completeJoin('a', 'e', 0, []);
    conn.onFrame(frame({ t: 'join', id: 'j1', r: 'b' }));
    conn.onFrame(frame({ t: 'req', id: 'r1', e: 'ask' }));
    conn.onFrame(frame({ t: 'res', id: 'n.9', d: 1 }));
    conn.onFrame(frame({ t: 'leave', r: 'a' }));
    conn.onFrame(frame({ t: 'leave', r: 'not-a-member' }));
    expect(calls).toEqual(['join:b']); // the rest waits for the join
    await vi.waitFor(() => expect(calls).toEqual(['join:b', 'request:ask', 'reply:n.9', 'leave:a']));
    await handle.join('c');
    await handle.request('confirm');
    expect(calls.slice(4)).toEqual(['server-join:c', 'request-client:confirm']);
  });
});
