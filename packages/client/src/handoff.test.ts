import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientState } from './state.js';
import { TetherClientBase } from './tether-client.js';
import type { ClientTransportEvents, TransportFactory } from './transports/transport.js';

// The move on a draining server (make before break), against scripted fake transports and fake
// timers: which transport carries what, and when the next attempt goes.

interface Fake {
  events: ClientTransportEvents;
  sent: Array<Record<string, unknown>>;
  closed: [number | undefined, string | undefined] | undefined;
}

const welcome = (cid: string) =>
  JSON.stringify({ t: 'welcome', sid: 's1', sk: 'k1', cid, rs: 1, hb: [60_000, 60_000], mp: 1_000_000 });
const bye = JSON.stringify({ t: 'bye', c: 4503, m: 'server is shutting down', rt: 10, mv: 1 });

describe('moving on a bye with mv: 1 (fake transports and timers)', () => {
  let made: Fake[];
  let client: TetherClientBase;
  let states: ClientState[];

  beforeEach(async () => {
    // Loaded before the clock is faked: the client imports it on the first move.
    await import('./handoff.js');
    vi.useFakeTimers();
    made = [];
    const factory: TransportFactory = ({ events }) => {
      const fake: Fake = { events, sent: [], closed: undefined };
      made.push(fake);
      return {
        kind: 'websocket',
        send: (frame) => void fake.sent.push(JSON.parse(frame as string) as Record<string, unknown>),
        close: (code, reason) => void (fake.closed = [code, reason]),
      };
    };
    client = new TetherClientBase(
      'http://127.0.0.1:1/tether',
      { transports: ['websocket'], reconnect: { initialDelay: 60_000, jitter: 0 } },
      { transports: { websocket: factory } },
    );
    states = [client.state];
    client.on('state', (s) => void states.push(s));
    await vi.advanceTimersByTimeAsync(0);
    made[0]!.events.onOpen();
    made[0]!.events.onFrame(welcome('c1'));
  });

  afterEach(() => {
    client.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
  });

  it('opens the next connection at once, keeps delivering on the old one, and switches on its welcome', async () => {
    const joining = client.join('feed');
    const join = made[0]!.sent.find((m) => m.t === 'join')!;
    made[0]!.events.onFrame(JSON.stringify({ t: 'res', id: join.id, d: { ep: 'e1', off: 0 } }));
    const room = await joining;
    await vi.advanceTimersByTimeAsync(0); // the room releases messages held for the joiner
    const got: number[] = [];
    room.on('n', (n) => void got.push(n as number));
    const msg = (off: number) => JSON.stringify({ t: 'msg', r: 'feed', e: 'n', d: off, off });
    made[0]!.events.onFrame(msg(1));
    const reply = client.request('slow');
    const request = made[0]!.sent.find((m) => m.t === 'req')!;

    made[0]!.events.onFrame(bye);
    await vi.advanceTimersByTimeAsync(0);
    expect(made).toHaveLength(2);
    // The first attempt reached the draining node again: refused; the next goes 50 ms later.
    made[1]!.events.onClose(1006, '', 503);
    await vi.advanceTimersByTimeAsync(49);
    expect(made).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(made).toHaveLength(3);
    made[2]!.events.onOpen();
    expect(made[2]!.sent[0]).toMatchObject({ t: 'hello', sid: 's1', sk: 'k1' });
    made[0]!.events.onFrame(msg(2)); // the old connection still delivers

    made[2]!.events.onFrame(welcome('c2'));
    expect(made[0]!.closed).toEqual([1001, 'moved to another node']);
    expect(client.connectionId).toBe('c2');
    expect(states).toEqual(['connecting', 'open']);
    // On the new connection: the rejoin from the last position, then the pending request again.
    const rejoin = made[2]!.sent.find((m) => m.t === 'join');
    expect(rejoin).toMatchObject({ r: 'feed', ep: 'e1', off: 2 });
    expect(made[2]!.sent.find((m) => m.t === 'req')).toMatchObject({ id: request.id, rt: 1 });

    made[0]!.events.onFrame(msg(3)); // the old connection is no longer read
    made[2]!.events.onFrame(JSON.stringify({ t: 'res', id: rejoin!.id, d: { ep: 'e1', off: 3, rec: 1 } }));
    made[2]!.events.onFrame(msg(3));
    made[2]!.events.onFrame(JSON.stringify({ t: 'res', id: request.id, d: 'done' }));
    await expect(reply).resolves.toBe('done');
    expect(got).toEqual([1, 2, 3]);
  });

  it('gives up after ten attempts over about 2 s and stays on the old connection', async () => {
    made[0]!.events.onFrame(bye);
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 1; i <= 10; i++) {
      expect(made).toHaveLength(i + 1);
      made[i]!.events.onClose(1006, '', 503);
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(made).toHaveLength(11);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(made).toHaveLength(11);
    expect(made[0]!.closed).toBeUndefined();
    expect(client.connectionId).toBe('c1');
  });

  it('closes an attempt under way on client.close()', async () => {
    made[0]!.events.onFrame(bye);
    await vi.advanceTimersByTimeAsync(0);
    made[1]!.events.onOpen();
    client.close();
    expect(made[1]!.closed?.[0]).toBe(1001);
  });

  it('leaves an attempt unused when the client reconnected elsewhere by itself first', async () => {
    made[0]!.events.onFrame(bye);
    await vi.advanceTimersByTimeAsync(0);
    // The server closes the old connection before the attempt is welcomed; the ordinary
    // reconnect (within the bye's 10 ms) gets there first.
    made[0]!.events.onClose(4503, 'server is shutting down');
    await vi.advanceTimersByTimeAsync(10);
    const reconnect = made[2]!;
    reconnect.events.onOpen();
    reconnect.events.onFrame(welcome('c3'));
    expect(client.connectionId).toBe('c3');
    made[1]!.events.onOpen();
    made[1]!.events.onFrame(welcome('c4'));
    expect(made[1]!.closed?.[0]).toBe(1001);
    expect(reconnect.closed).toBeUndefined();
    expect(client.connectionId).toBe('c3');
  });
});
