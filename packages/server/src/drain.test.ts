import type { ServerMessage } from '@tether/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Drain, type DrainedConnection, MOVE_GRACE_MS, moveSpreadMs } from './drain.js';

// The drain's schedule, against fake connections and fake timers: when each is told to move, and
// when the ones that did not move are closed.

class FakeConnection implements DrainedConnection {
  closed = false;
  busy = false;
  readonly sent: Array<{ message: ServerMessage; at: number }> = [];
  readonly closes: Array<{ code: number; at: number }> = [];
  #listeners: Array<() => void> = [];

  send(message: ServerMessage): boolean {
    this.sent.push({ message, at: Date.now() });
    return true;
  }

  close(code: number): void {
    this.closes.push({ code, at: Date.now() });
    this.gone();
  }

  addCloseListener(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** The transport is gone (the client closed it after moving, or the close completed). */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.#listeners) listener();
  }
}

const fakes = (n: number) => Array.from({ length: n }, () => new FakeConnection());

describe('moveSpreadMs', () => {
  it('grows with the number of connections, up to maxSpreadMs and half the drain window', () => {
    expect(moveSpreadMs(10, 2_000, 5_000)).toBe(10);
    expect(moveSpreadMs(1_500, 2_000, 5_000)).toBe(1_000);
    expect(moveSpreadMs(100_000, 60_000, 5_000)).toBe(5_000);
    expect(moveSpreadMs(100, 0, 5_000)).toBe(100);
    expect(moveSpreadMs(0, 2_000, 5_000)).toBe(0);
  });
});

describe('Drain (fake timers)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
  });

  it('with drainMs 0 tells every connection to come back within the spread and closes them at once', async () => {
    const connections = fakes(3);
    await new Drain(connections, { drainMs: 0, maxSpreadMs: 5_000, busy: () => false }).run();
    for (const c of connections) {
      expect(c.sent.map((s) => s.message)).toEqual([
        { t: 'bye', c: 4503, m: 'server is shutting down', rt: 3 },
      ]);
      expect(c.closes.map((x) => x.code)).toEqual([4503]);
    }
  });

  it('tells connections in turn over the spread, and ends as soon as every client has moved', async () => {
    const connections = fakes(1_000);
    const start = Date.now();
    let done = false;
    const drain = new Drain(connections, { drainMs: 10_000, maxSpreadMs: 5_000, busy: () => false });
    expect(drain.spreadMs).toBe(1_000);
    void drain.run().then(() => (done = true));
    expect(connections.filter((c) => c.sent.length > 0)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(500);
    const told = connections.filter((c) => c.sent.length > 0).length;
    expect(told).toBeGreaterThan(400);
    expect(told).toBeLessThan(600);
    await vi.advanceTimersByTimeAsync(505);
    expect(connections.every((c) => c.sent.length === 1)).toBe(true);
    expect(connections[0]!.sent[0]!.message).toMatchObject({ t: 'bye', c: 4503, rt: 1_000, mv: 1 });
    // Each one's time: i × spread / n.
    for (const i of [0, 250, 999]) expect(connections[i]!.sent[0]!.at - start).toBeLessThanOrEqual(i + 5);
    for (const c of connections) c.gone(); // every client moved
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    expect(connections.every((c) => c.closes.length === 0)).toBe(true);
  });

  it('closes a connection that did not move after the grace once its requests are answered, and the rest at the end', async () => {
    const [moves, stays, busy, busyToTheEnd] = fakes(4);
    busy!.busy = true;
    busyToTheEnd!.busy = true;
    const start = Date.now();
    let done = false;
    const drain = new Drain([moves!, stays!, busy!, busyToTheEnd!], {
      drainMs: 5_000,
      maxSpreadMs: 5_000,
      busy: (c) => c.busy,
    });
    void drain.run().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    moves!.gone();
    await vi.advanceTimersByTimeAsync(MOVE_GRACE_MS);
    expect(stays!.closes.map((c) => c.code)).toEqual([4503]);
    expect(stays!.closes[0]!.at - start).toBeGreaterThanOrEqual(MOVE_GRACE_MS);
    expect(busy!.closes).toEqual([]);
    busy!.busy = false;
    await vi.advanceTimersByTimeAsync(10);
    expect(busy!.closes.map((c) => c.code)).toEqual([4503]);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(busyToTheEnd!.closes.map((c) => c.code)).toEqual([4503]);
    expect(busyToTheEnd!.closes[0]!.at - start).toBeGreaterThanOrEqual(5_000);
    expect(done).toBe(true);
    expect(moves!.closes).toEqual([]);
  });
});
