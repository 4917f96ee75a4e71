import { createTestPair, fence, type TestPair, waitFor, waitForEvent, waitForState } from '@tether/testing';
import { afterEach, describe, expect, it } from 'vitest';

// Each fault is shown the way a user's test would meet it: through the pair's network, with the
// outcome checked by a fence or an event, never by waiting a while.
let pair: TestPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('cut', () => {
  it('resets every connection: the client reconnects and a room stream misses nothing', async () => {
    pair = await createTestPair({ server: { authorizeJoin: () => true } });
    const room = await pair.client.join('orders');
    const got: Array<{ n: number; offset: number }> = [];
    room.on('n', (n, meta) => got.push({ n: n as number, offset: meta.offset }));
    const states: string[] = [];
    pair.client.on('state', (state) => states.push(state));

    for (const n of range(1, 10)) await pair.tether.to('orders').emit('n', n);
    expect(pair.network.cut()).toBe(1);
    // Published while the client is away or rejoining: recovered from the room's history.
    for (const n of range(11, 20)) await pair.tether.to('orders').emit('n', n);
    await waitForState(pair.client, 'open');
    for (const n of range(21, 30)) await pair.tether.to('orders').emit('n', n);
    await fence(pair.tether.to('orders'), room);

    expect(states).toEqual(['reconnecting', 'open']);
    expect(pair.network.acceptedConnections).toBe(2);
    expect(got.map((m) => m.n)).toEqual(range(1, 30));
    expect(new Set(got.map((m) => m.offset)).size).toBe(30);
    expect(room.recovered).toBe(true);
  });

  it('drops requests in flight without losing them: the retry gets the one reply', async () => {
    let runs = 0;
    let release: (() => void) | undefined;
    pair = await createTestPair({
      setup: (tether) =>
        tether.on('connection', (conn) =>
          conn.on('slow', async () => {
            runs++;
            await new Promise<void>((resolve) => {
              release = resolve;
            });
            return 'done';
          }),
        ),
    });
    const reply = pair.client.request('slow', undefined, { timeout: 1_000, retries: 5 });
    await waitFor(() => release, 'the handler to start');
    pair.network.cut();
    await waitForState(pair.client, 'open');
    release?.();
    await expect(reply).resolves.toBe('done');
    expect(runs).toBe(1);
  });
});

describe('pause', () => {
  it('holds every byte without closing: only the heartbeat notices, on both sides', async () => {
    pair = await createTestPair({ server: { heartbeat: { intervalMs: 100, timeoutMs: 150 } } });
    const conn = pair.connectionOf(pair.client);
    const serverSawClose = waitForEvent(conn, 'close', 'the server connection to close');
    pair.network.pause();
    expect(pair.network.mode).toBe('paused');
    expect(pair.network.connectionCount).toBe(1); // nothing was closed by the proxy

    await waitForState(pair.client, 'reconnecting', 'the client heartbeat to notice the pause');
    await serverSawClose;
    expect(pair.client.state).not.toBe('open');

    pair.network.resume();
    await waitForState(pair.client, 'open', 'the client to reopen after resume');
    expect(pair.connectionOf(pair.client).id).not.toBe(conn.id);
  });

  it('holds messages and lets them through on resume when no heartbeat fires first', async () => {
    pair = await createTestPair();
    const got: number[] = [];
    pair.client.on('n', (n) => got.push(n as number));
    const conn = pair.connectionOf(pair.client);
    pair.network.pause();
    for (const n of range(1, 5)) conn.emit('n', n);
    // Sent but held: a fence through the same connection cannot pass while paused.
    await expect(fence(conn, pair.client, { timeout: 200 })).rejects.toThrow(/fence marker/);
    expect(got).toEqual([]);
    pair.network.resume();
    await fence(conn, pair.client);
    expect(got).toEqual(range(1, 5));
  });
});

describe('refuse', () => {
  it('keeps the client reconnecting while attempts are refused, then it recovers on resume', async () => {
    pair = await createTestPair({ server: { authorizeJoin: () => true } });
    const room = await pair.client.join('feed');
    const got: number[] = [];
    room.on('n', (n) => got.push(n as number));
    await pair.tether.to('feed').emit('n', 1);
    await fence(pair.tether.to('feed'), room);

    pair.network.refuse();
    expect(pair.network.connectionCount).toBe(1); // open connections carry on
    pair.network.cut();
    await waitForState(pair.client, 'reconnecting');
    await waitFor(() => pair && pair.network.refusedConnections >= 3, 'three refused reconnect attempts');
    expect(pair.client.state).toBe('reconnecting'); // still trying, not given up
    for (const n of range(2, 6)) await pair.tether.to('feed').emit('n', n);

    pair.network.resume();
    await waitForState(pair.client, 'open');
    await fence(pair.tether.to('feed'), room);
    expect(got).toEqual(range(1, 6));
  });
});
