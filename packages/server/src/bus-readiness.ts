import { ErrorCode, type Logger, TetherError } from '@tether/protocol';
import type { Bus, BusLink, BusStatus } from './bus.js';
import { logBusStatus } from './lifecycle-log.js';

/** How long `tether.ready()` waits for the bus by default, in ms. */
export const DEFAULT_READY_TIMEOUT_MS = 10_000;

/** How long the probe that names why the bus is down may take, in ms. */
const PROBE_MS = 1_000;

/**
 * The bus's reachability as the server reports it: the first status once the node is attached
 * (so `bus:status` is emitted for the initial state too), every change after, each logged once,
 * and `ready()`, which settles when the bus is up or rejects with BUS_UNAVAILABLE after a timeout.
 *
 * @example
 * const readiness = new BusReadiness(bus, link, logger, (status) => emit('bus:status', status));
 * await readiness.ready(5_000);
 */
export class BusReadiness {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #emit: (status: BusStatus) => void;
  /** The status last reported; undefined until the node is attached. */
  #reported: BusStatus | undefined;
  /** Why attaching failed, when it did: the bus stays unusable. */
  #attachError: unknown;
  readonly #waiters = new Set<{ resolve(): void; reject(err: TetherError): void }>();
  #closed = false;

  constructor(bus: Bus, link: Promise<BusLink>, logger: Logger, emit: (status: BusStatus) => void) {
    this.#bus = bus;
    this.#logger = logger;
    this.#emit = emit;
    link.then(
      () => this.#report(bus.status, true),
      (err: unknown) => {
        this.#attachError = err;
        this.#report('down', true);
      },
    );
  }

  /** The bus's own `onStatus`: changes after the node attached. */
  changed(status: BusStatus): void {
    // Before the first report the initial one reads `bus.status` itself.
    if (this.#reported !== undefined) this.#report(status, false);
  }

  /** Resolves once the bus is up; rejects with BUS_UNAVAILABLE when it is not within `timeoutMs`. */
  ready(timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
    if (this.#closed) return Promise.reject(new TetherError(ErrorCode.ServerClosing, 'the server is closed'));
    if (this.#reported === 'up' && this.#bus.status === 'up') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
        reject: (err: TetherError) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        void this.#whyDown().then((why) =>
          reject(
            new TetherError(
              ErrorCode.BusUnavailable,
              `the bus was not reachable within ${timeoutMs} ms: ${why}`,
            ),
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** The server is closing: waiting callers are told, nothing more is reported. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters])
      waiter.reject(
        new TetherError(ErrorCode.ServerClosing, 'the server closed before the bus was reachable'),
      );
  }

  #report(status: BusStatus, initial: boolean): void {
    if (this.#closed || status === this.#reported) return;
    this.#reported = status;
    logBusStatus(this.#logger, status, initial);
    this.#emit(status);
    if (status === 'up') for (const waiter of [...this.#waiters]) waiter.resolve();
  }

  /** Names the cause for the rejection: the attach error, or what a cheap bus call fails with. */
  async #whyDown(): Promise<string> {
    if (this.#attachError !== undefined) return messageOf(this.#attachError);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const probe = this.#bus.get('tether:ready-probe').then(
      () => 'the bus answers, but its status is still down',
      (err: unknown) => messageOf(err),
    );
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('no answer'), PROBE_MS);
    });
    const why = await Promise.race([probe, late]);
    clearTimeout(timer);
    return why;
  }
}

/**
 * What a failed bus call surfaces as: a `TetherError` as it is (a bus names its own codes), any
 * other failure as BUS_UNAVAILABLE, never as INTERNAL (docs/troubleshooting.md).
 *
 * @example
 * await bus.history(room, since, 100).catch((err) => { throw busFailure(err); });
 */
export function busFailure(err: unknown): TetherError {
  if (err instanceof TetherError) return err;
  return new TetherError(ErrorCode.BusUnavailable, `the bus failed: ${messageOf(err)}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
