import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TetherClientBase } from './tether-client.js';
import type { ClientTransportEvents, TransportFactory } from './transports/transport.js';

// Pure timing: a transport that fails every attempt at once, driven by fake timers.
describe('reconnect schedule (fake timers)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function failingClient(options: ConstructorParameters<typeof TetherClientBase>[1]) {
    const attempts: number[] = [];
    const factory: TransportFactory = ({ events }: { events: ClientTransportEvents }) => {
      attempts.push(Date.now());
      queueMicrotask(() => events.onClose(1006, 'refused'));
      return { kind: 'websocket', send() {}, close() {} };
    };
    const client = new TetherClientBase(
      'http://127.0.0.1:1/tether',
      { transports: ['websocket'], ...options },
      { transports: { websocket: factory } },
    );
    return { client, attempts };
  }

  it('waits initialDelay * factor^n between attempts, capped at maxDelay', async () => {
    const { client, attempts } = failingClient({
      reconnect: { initialDelay: 100, maxDelay: 500, factor: 2, jitter: 0 },
    });
    const start = Date.now();
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 500 + 500 + 1);
    expect(attempts.map((t) => t - start)).toEqual([0, 100, 300, 700, 1_200, 1_700]);
    expect(client.state).toBe('reconnecting');
    client.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives up after maxAttempts and ends closed with no timer left', async () => {
    const { client, attempts } = failingClient({
      reconnect: { initialDelay: 10, jitter: 0, maxAttempts: 3 },
    });
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempts).toHaveLength(4);
    expect(client.state).toBe('closed');
    expect(states).toEqual(['reconnecting', 'closed']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
