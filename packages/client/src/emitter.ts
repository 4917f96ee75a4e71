import { ErrorCode, TetherError } from '@tether/protocol';
/**
 * A small typed event emitter: listeners per name, called in order; a listener that throws
 * does not stop the others (the error is reported to `onListenerError`).
 *
 * @example
 * const e = new Emitter<{ state: [string] }>();
 * const off = e.on('state', (s) => console.log(s));
 * e.emit('state', 'open'); off();
 */
export class Emitter<Events extends { [name: string]: unknown[] }> {
  #listeners = new Map<keyof Events, Array<(...args: never[]) => unknown>>();
  /** Gets what a listener threw, and the event it was listening to. Default: rethrown in a microtask. */
  onListenerError: (err: unknown, event: keyof Events) => void = rethrowLater;

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => unknown): () => void {
    const list = this.#listeners.get(event);
    if (list) list.push(listener as (...args: never[]) => unknown);
    else this.#listeners.set(event, [listener as (...args: never[]) => unknown]);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener?: (...args: Events[K]) => unknown): void {
    if (!listener) {
      this.#listeners.delete(event);
      return;
    }
    const rest = this.#listeners.get(event)?.filter((l) => l !== listener);
    if (rest?.length) this.#listeners.set(event, rest);
    else this.#listeners.delete(event);
  }

  /**
   * Calls every listener in order; a throwing listener is reported and the rest still run.
   * Events carry at most three arguments, taken one by one: a rest array per call would cost
   * every room message.
   */
  emit<K extends keyof Events>(event: K, a?: Events[K][0], b?: Events[K][1], c?: Events[K][2]): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    for (const listener of list.length === 1 ? list : [...list]) {
      try {
        (listener as (a: unknown, b: unknown, c: unknown) => unknown)(a, b, c);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }

  /** The first listener of an event: the one whose return value answers a request. */
  first<K extends keyof Events>(event: K): ((...args: Events[K]) => unknown) | undefined {
    return this.#listeners.get(event)?.[0] as ((...args: Events[K]) => unknown) | undefined;
  }

  /** The listeners of an event, in order (a copy). */
  listeners<K extends keyof Events>(event: K): Array<(...args: Events[K]) => unknown> {
    return [...(this.#listeners.get(event) ?? [])] as Array<(...args: Events[K]) => unknown>;
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * Throws `err` from a microtask: it reaches the console (or `unhandledRejection`/`uncaughtException`
 * in Node) without unwinding the caller.
 *
 * @example
 * rethrowLater(new Error('listener failed'));
 */
export function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

/**
 * The error an `error` listener gets: a `TetherError` as it is, anything else as `INTERNAL`.
 *
 * @example
 * asTetherError(new Error('boom')).code; // 'INTERNAL'
 */
export function asTetherError(err: unknown): TetherError {
  return err instanceof TetherError
    ? err
    : new TetherError(ErrorCode.Internal, String((err as Error)?.message ?? err));
}
