import type { ClientState, EventMap, TetherClient } from '@tether/client';

/**
 * Options of {@link waitFor}, {@link waitForEvent} and {@link waitForState}. A plain string is
 * short for `{ what }`.
 *
 * @example
 * ```ts
 * await waitFor(() => got.length === 3, { what: 'three messages', timeout: 2000 });
 * ```
 */
export interface WaitOptions {
  /** Milliseconds before giving up. Default 5 000. */
  timeout?: number;
  /** Milliseconds between two checks of a predicate. Default 10. */
  interval?: number;
  /** What is awaited, in words, for the timeout error. Default: the predicate's source text or the event name. */
  what?: string;
}

/**
 * Thrown when a wait runs out of time. `what` names what was awaited; `cause` is the last error
 * the predicate threw, if it threw.
 *
 * @example
 * ```ts
 * try {
 *   await waitFor(() => false, 'never');
 * } catch (err) {
 *   if (err instanceof WaitTimeoutError) console.log(err.what, err.timeoutMs);
 * }
 * ```
 */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly code = 'WAIT_TIMEOUT' as const;
  /** What was awaited. */
  readonly what: string;
  /** How long it was awaited, in ms. */
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number, detail?: string, cause?: unknown) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? ` (${detail})` : ''}`, { cause });
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Something with `on` and `off`: a `TetherClient`, a client `Room`, a server `Connection`, a
 * `TetherServer`, or any Node `EventEmitter`.
 *
 * @example
 * ```ts
 * const source: Listenable = pair.client;
 * ```
 */
export interface Listenable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

const DEFAULT_TIMEOUT = 5_000;

function resolveOptions(options: WaitOptions | string | undefined): WaitOptions {
  return typeof options === 'string' ? { what: options } : (options ?? {});
}

/**
 * Checks `predicate` every `interval` ms until it returns (or resolves to) something truthy, and
 * resolves to that value. A predicate that throws counts as "not yet". On timeout it rejects with
 * a {@link WaitTimeoutError} naming what it waited for.
 *
 * @example
 * ```ts
 * await waitFor(() => pair.tether.connections.size === 2, 'both clients connected');
 * const reply = await waitFor(() => replies.find((r) => r.id === 7));
 * ```
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options?: WaitOptions | string,
): Promise<NonNullable<T>> {
  const { timeout = DEFAULT_TIMEOUT, interval = 10, what } = resolveOptions(options);
  const started = Date.now();
  let lastError: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // One timer bounds the whole wait, so a predicate whose promise never settles cannot hold the test.
  const deadline = new Promise<typeof expired>((resolve) => {
    timer = setTimeout(() => resolve(expired), timeout);
  });
  try {
    for (;;) {
      const attempt = Promise.resolve()
        .then(predicate)
        .then(
          (value) => ({ value }),
          (error: unknown) => {
            lastError = error;
            return { value: undefined };
          },
        );
      const outcome = await Promise.race([attempt, deadline]);
      if (outcome === expired) break;
      if (outcome.value) return outcome.value as NonNullable<T>;
      if (Date.now() - started >= timeout) break;
      const pause = new Promise<void>((resolve) => setTimeout(resolve, interval));
      if ((await Promise.race([pause, deadline])) === expired) break;
    }
  } finally {
    clearTimeout(timer);
  }
  const detail = lastError instanceof Error ? `last error: ${lastError.message}` : undefined;
  throw new WaitTimeoutError(what ?? describe(predicate), timeout, detail, lastError);
}

const expired = Symbol('expired');

/** The predicate's own source, on one line and short, so an unnamed wait still says what it was. */
function describe(predicate: () => unknown): string {
  const text = String(predicate).replace(/\s+/g, ' ').trim();
  return `\`${text.length > 120 ? `${text.slice(0, 117)}...` : text}\``;
}

/**
 * Options of {@link waitForEvent}: those of every wait, and a `filter` that an event's
 * arguments must pass to count.
 *
 * @example
 * ```ts
 * await waitForEvent(room, 'message', { filter: (m) => (m as { n: number }).n === 3 });
 * ```
 */
export interface WaitForEventOptions extends WaitOptions {
  /** Only an event whose arguments pass this ends the wait. */
  filter?: (...args: unknown[]) => boolean;
}

/**
 * Resolves with the arguments of the next `event` that `source` emits (and that passes
 * `filter`). Listen before causing the event: call it, keep the promise, then act.
 *
 * @example
 * ```ts
 * const welcomed = waitForEvent(pair.client, 'welcome');
 * pair.connectionOf(pair.client).emit('welcome', { hi: 1 });
 * const [data] = await welcomed;
 * ```
 */
export function waitForEvent(
  source: Listenable,
  event: string,
  options?: WaitForEventOptions | string,
): Promise<unknown[]> {
  const {
    timeout = DEFAULT_TIMEOUT,
    what,
    filter,
  } = typeof options === 'string' ? { what: options, filter: undefined } : (options ?? {});
  return new Promise<unknown[]>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      source.off(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      source.off(event, listener);
      reject(new WaitTimeoutError(what ?? `event "${event}"`, timeout));
    }, timeout);
    source.on(event, listener);
  });
}

/**
 * Resolves once `client.state` is `state` (at once if it already is). The timeout error names
 * the state awaited and the state the client is in.
 *
 * @example
 * ```ts
 * pair.network.cut();
 * await waitForState(pair.client, 'reconnecting');
 * await waitForState(pair.client, 'open');
 * ```
 */
export function waitForState<E extends EventMap>(
  client: TetherClient<E>,
  state: ClientState,
  options?: WaitOptions | string,
): Promise<void> {
  if (client.state === state) return Promise.resolve();
  const { timeout = DEFAULT_TIMEOUT, what } = resolveOptions(options);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new WaitTimeoutError(what ?? `client state "${state}"`, timeout, `state is "${client.state}"`));
    }, timeout);
    const off = client.on('state', (now) => {
      if (now !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
