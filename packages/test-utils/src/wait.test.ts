import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { delay, once, waitFor } from './wait.js';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { interval: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('awaits async predicates', async () => {
    const started = Date.now();
    await waitFor(async () => Date.now() - started > 30);
  });

  it('throws the given message on timeout, with the last predicate error as cause', async () => {
    const failure = waitFor(
      () => {
        throw new Error('not yet');
      },
      { timeout: 50, message: () => 'never ready' },
    );
    await expect(failure).rejects.toThrow('never ready');
    await expect(failure).rejects.toHaveProperty('cause.message', 'not yet');
  });

  it('gives up on a predicate that never settles', async () => {
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeout: 50 })).rejects.toThrow(/50 ms/);
  });
});

describe('once', () => {
  it('resolves with the event arguments', async () => {
    const emitter = new EventEmitter();
    setImmediate(() => emitter.emit('tick', 1, 'two'));
    expect(await once(emitter, 'tick')).toEqual([1, 'two']);
    expect(emitter.listenerCount('tick')).toBe(0);
    expect(emitter.listenerCount('error')).toBe(0);
  });

  it('rejects on an error emitted first, and on timeout', async () => {
    const emitter = new EventEmitter();
    setImmediate(() => emitter.emit('error', new Error('boom')));
    await expect(once(emitter, 'tick')).rejects.toThrow('boom');
    await expect(once(emitter, 'tick', 20)).rejects.toThrow('no "tick" event within 20 ms');
    expect(emitter.listenerCount('tick')).toBe(0);
  });

  it('awaiting close is not cut short by the error that precedes it', async () => {
    const emitter = new EventEmitter();
    emitter.on('error', () => {});
    setImmediate(() => {
      emitter.emit('error', new Error('reset'));
      emitter.emit('close', true);
    });
    expect(await once(emitter, 'close')).toEqual([true]);
  });
});

describe('delay', () => {
  it('delay waits about as long as asked', async () => {
    const started = Date.now();
    await delay(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(19);
  });
});
