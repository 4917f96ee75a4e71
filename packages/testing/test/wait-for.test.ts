import { EventEmitter } from 'node:events';
import {
  createTestPair,
  type TestPair,
  WaitTimeoutError,
  waitFor,
  waitForEvent,
  waitForState,
} from '@tether/testing';
import { afterEach, describe, expect, it } from 'vitest';

async function failure(promise: Promise<unknown>): Promise<WaitTimeoutError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WaitTimeoutError);
  return error as WaitTimeoutError;
}

describe('waitFor', () => {
  it('resolves with the first truthy value, sync or async', async () => {
    let calls = 0;
    await expect(waitFor(() => (++calls >= 3 ? { calls } : undefined))).resolves.toEqual({ calls: 3 });
    await expect(waitFor(async () => 'yes')).resolves.toBe('yes');
  });

  it('names what it waited for on timeout', async () => {
    const error = await failure(waitFor(() => false, { what: 'the order to ship', timeout: 50 }));
    expect(error.message).toBe('timed out after 50 ms waiting for the order to ship');
    expect(error.code).toBe('WAIT_TIMEOUT');
    expect(error.what).toBe('the order to ship');
    expect(error.timeoutMs).toBe(50);
  });

  it('without a name, quotes the predicate itself', async () => {
    const inbox: number[] = [];
    const error = await failure(waitFor(() => inbox.length === 2, { timeout: 30 }));
    expect(error.message).toContain('`() => inbox.length === 2`');
  });

  it('keeps the last error the predicate threw as the cause', async () => {
    const error = await failure(
      waitFor(
        () => {
          throw new Error('not ready');
        },
        { what: 'readiness', timeout: 30 },
      ),
    );
    expect(error.message).toContain('last error: not ready');
    expect((error.cause as Error).message).toBe('not ready');
  });

  it('gives up on a predicate that never settles', async () => {
    const error = await failure(
      waitFor(() => new Promise<never>(() => {}), { what: 'a hung check', timeout: 50 }),
    );
    expect(error.what).toBe('a hung check');
  });
});

describe('waitForEvent', () => {
  it('resolves with the arguments of the next matching event and stops listening', async () => {
    const emitter = new EventEmitter();
    const next = waitForEvent(emitter, 'n', { filter: (n) => n === 2 });
    emitter.emit('n', 1);
    emitter.emit('n', 2, 'two');
    await expect(next).resolves.toEqual([2, 'two']);
    expect(emitter.listenerCount('n')).toBe(0);
  });

  it('names the event on timeout and stops listening', async () => {
    const emitter = new EventEmitter();
    const error = await failure(waitForEvent(emitter, 'never', { timeout: 30 }));
    expect(error.message).toBe('timed out after 30 ms waiting for event "never"');
    expect(emitter.listenerCount('never')).toBe(0);
  });
});

describe('waitForState', () => {
  let pair: TestPair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it('resolves at once in the state, and tells the state it is in on timeout', async () => {
    pair = await createTestPair();
    await waitForState(pair.client, 'open');
    const error = await failure(waitForState(pair.client, 'closed', { timeout: 30 }));
    expect(error.message).toBe('timed out after 30 ms waiting for client state "closed" (state is "open")');
  });

  it('works on a server connection and the client alike, through waitForEvent', async () => {
    pair = await createTestPair();
    const conn = pair.connectionOf(pair.client);
    const closed = waitForEvent(conn, 'close');
    const stateChanged = waitForEvent(pair.client, 'state');
    pair.client.close();
    expect((await stateChanged)[0]).toBe('closed');
    await closed;
  });
});
