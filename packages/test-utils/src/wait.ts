/**
 * Options of {@link waitFor}.
 *
 * @example
 * ```ts
 * await waitFor(() => done, { timeout: 2000, interval: 50, message: 'never done' });
 * ```
 */
export interface WaitForOptions {
  /** Give up after this many milliseconds. Default 5000. */
  timeout?: number;
  /** Pause between two checks, in milliseconds. Default 10. */
  interval?: number;
  /** Text of the error thrown on timeout; a function is called only then, so it can show late state. */
  message?: string | (() => string);
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * await delay(50);
 * ```
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `predicate` until it returns (or resolves to) a truthy value, and resolves to that value.
 *
 * A predicate that throws counts as "not yet"; its last error becomes the `cause` of the timeout
 * error, which is usually the most useful thing to see when a test fails. A predicate whose promise
 * never settles is abandoned at the deadline rather than holding the test.
 *
 * @throws Error with `message` (or a default text) when `timeout` passes.
 * @example
 * ```ts
 * await waitFor(() => client.state === 'open', { message: 'client never opened' });
 * const msg = await waitFor(() => inbox.find((m) => m.id === 3));
 * ```
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeout = 5000, interval = 10, message } = options;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      const value = await withDeadline(predicate, remaining);
      if (value) return value as NonNullable<T>;
    } catch (error) {
      if (error !== timedOut) lastError = error;
    }
    if (Date.now() >= deadline) break;
    await delay(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  const text = typeof message === 'function' ? message() : message;
  throw new Error(text ?? `waitFor: condition not met within ${timeout} ms`, { cause: lastError });
}

const timedOut = Symbol('timedOut');

/** Runs `fn`, but rejects with `timedOut` if it has not settled after `ms`. */
function withDeadline<T>(fn: () => T | Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut), Math.max(0, ms));
    const settle = (done: () => void) => {
      clearTimeout(timer);
      done();
    };
    // Promise.resolve().then() turns a synchronous throw into a rejection too.
    Promise.resolve()
      .then(fn)
      .then(
        (value) => settle(() => resolve(value)),
        (error: unknown) => settle(() => reject(error)),
      );
  });
}

/**
 * What {@link once} needs from an emitter: Node's `EventEmitter` and `ws`'s `WebSocket` both fit.
 *
 * @example
 * ```ts
 * const emitter: EmitterLike = new EventEmitter();
 * ```
 */
export interface EmitterLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Resolves with the arguments of the next `event` emitted by `emitter`.
 *
 * Like `events.once`, an `'error'` emitted first rejects, except when awaiting `'error'` or
 * `'close'` (sockets emit `'error'` just before `'close'`, and a test awaiting the close usually
 * expects the error). Unlike it, gives up after `timeout` so a missing event fails the test with a
 * clear message.
 *
 * @example
 * ```ts
 * const [code, reason] = await once(socket, 'close', 2000);
 * ```
 */
export function once<T extends unknown[] = unknown[]>(
  emitter: EmitterLike,
  event: string,
  timeout = 5000,
): Promise<T> {
  const rejectOnError = event !== 'error' && event !== 'close';
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (rejectOnError) emitter.off('error', onError);
    };
    const onEvent = (...args: unknown[]) => {
      cleanup();
      resolve(args as T);
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`once: no "${event}" event within ${timeout} ms`));
    }, timeout);
    emitter.on(event, onEvent);
    if (rejectOnError) emitter.on('error', onError);
  });
}
