/**
 * A promise with its resolve and reject at hand, for a handler to signal "I am running now" or
 * for a test to release a handler it holds in flight.
 *
 * @example
 * ```ts
 * const started = deferred();
 * const release = deferred();
 * conn.on('slow', async () => {
 *   started.resolve();
 *   await release.promise;
 *   return 'ok';
 * });
 * ```
 */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/**
 * Makes a {@link Deferred}.
 *
 * @example
 * ```ts
 * const inFlight = deferred<void>();
 * handler = () => { inFlight.resolve(); return never; };
 * await inFlight.promise;
 * ```
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
