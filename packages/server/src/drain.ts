import { CloseCode, type ServerMessage } from '@tether/protocol';
import { SHUTTING_DOWN, shutdownNotice } from './server-messages.js';

/** Connections a closing node tells to move per ms: the spread grows with their number. */
const MOVES_PER_MS = 1;

/** Longest a told connection is kept open for its client to move (make before break), in ms. */
export const MOVE_GRACE_MS = 2_000;

/** How often the drain walks its schedule, in ms. */
const TICK_MS = 5;

/** What the drain needs of a connection (an engine). */
export interface DrainedConnection {
  readonly closed: boolean;
  send(message: ServerMessage, volatile: boolean): boolean;
  close(code: number, reason: string): void;
  addCloseListener(listener: () => void): void;
}

/** Options of a {@link Drain}. */
export interface DrainOptions<C> {
  /** The drain window (`tether.close({ drainMs })`); 0 closes every connection at once. */
  drainMs: number;
  /** Upper bound of the spread (`reconnectSpreadMs`). */
  maxSpreadMs: number;
  /** True while a request of the connection is still being handled: it is closed once done. */
  busy(connection: C): boolean;
  now?: () => number;
}

/**
 * The spread over which a closing node tells its connections to move: 1 ms per connection, at
 * most `maxSpreadMs`, and at most half the drain window so that every client has time to move.
 *
 * @example
 * moveSpreadMs(10, 2_000, 5_000); // 10
 */
export function moveSpreadMs(connections: number, drainMs: number, maxSpreadMs: number): number {
  const paced = Math.ceil(connections / MOVES_PER_MS);
  return Math.max(0, Math.min(paced, maxSpreadMs, drainMs > 0 ? Math.floor(drainMs / 2) : paced));
}

/**
 * Moves a closing node's clients to other nodes without a gap. Connection `i` of `n` is told at
 * `i × spread / n` with a `bye` that asks its client to move now (`mv: 1`): the client opens a
 * new connection (the load balancer sends it elsewhere, this node refuses it) and closes this one
 * once the new one is welcomed, so room messages flow on the old connection until the new one
 * has rejoined. A connection still open `MOVE_GRACE_MS` after its `bye` (an older client, a plain
 * EventSource, a client with nowhere to go) is closed with 4503 once its running requests are
 * answered; at the end of the window every connection left is closed. With `drainMs` 0 every
 * connection gets a `bye` with the reconnect spread and is closed at once.
 *
 * One timer for the whole drain, cleared when it ends.
 *
 * @example
 * await new Drain([...registry.values()], { drainMs: 5_000, maxSpreadMs: 5_000, busy }).run();
 */
export class Drain<C extends DrainedConnection> {
  readonly #connections: readonly C[];
  readonly #options: DrainOptions<C>;
  readonly #now: () => number;
  readonly #spreadMs: number;
  readonly #graceMs: number;
  /** Connections told so far (a prefix of the list). */
  #told = 0;
  /** Connections whose grace ended so far (a prefix of the list); the open ones wait in `#due`. */
  #graceOver = 0;
  #due: C[] = [];
  #open = 0;
  #started = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finish: (() => void) | undefined;

  constructor(connections: readonly C[], options: DrainOptions<C>) {
    this.#connections = connections;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#spreadMs = moveSpreadMs(connections.length, options.drainMs, options.maxSpreadMs);
    this.#graceMs = Math.max(0, Math.min(MOVE_GRACE_MS, options.drainMs - this.#spreadMs));
  }

  /** The spread of the `bye`s, in ms. */
  get spreadMs(): number {
    return this.#spreadMs;
  }

  /**
   * Resolves once every connection has closed or been asked to close (the facade then waits for
   * the close handshakes).
   */
  run(): Promise<void> {
    this.#started = this.#now();
    if (this.#options.drainMs <= 0) {
      const bye = shutdownNotice(this.#spreadMs);
      for (const connection of this.#connections) connection.send(bye, false);
      for (const connection of this.#connections) connection.close(CloseCode.ServerClosing, SHUTTING_DOWN);
      return Promise.resolve();
    }
    for (const connection of this.#connections) {
      if (connection.closed) continue;
      this.#open++;
      connection.addCloseListener(() => {
        if (--this.#open === 0) this.#end();
      });
    }
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#finish = resolve;
      this.#tick();
    });
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    const connections = this.#connections;
    const n = connections.length;
    const elapsed = this.#now() - this.#started;
    const over = elapsed >= this.#options.drainMs;
    const told = over ? n : this.#countBy(elapsed);
    if (this.#told < told) {
      const bye = shutdownNotice(this.#spreadMs, true);
      for (; this.#told < told; this.#told++) connections[this.#told]!.send(bye, false);
    }
    const graceOver = over ? n : Math.min(this.#told, this.#countBy(elapsed - this.#graceMs));
    for (; this.#graceOver < graceOver; this.#graceOver++) this.#due.push(connections[this.#graceOver]!);
    if (this.#due.length > 0) {
      this.#due = this.#due.filter((connection) => {
        if (connection.closed) return false;
        if (!over && this.#options.busy(connection)) return true;
        connection.close(CloseCode.ServerClosing, SHUTTING_DOWN);
        return false;
      });
    }
    if (over) this.#end();
    else if (this.#finish) this.#timer = setTimeout(this.#tick, TICK_MS);
  };

  /** How many connections have their slot (`i × spread / n`) at or before `elapsed`. */
  #countBy(elapsed: number): number {
    const n = this.#connections.length;
    if (elapsed < 0) return 0;
    if (this.#spreadMs === 0) return n;
    return Math.min(n, Math.floor((elapsed * n) / this.#spreadMs) + 1);
  }

  #end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const finish = this.#finish;
    this.#finish = undefined;
    finish?.();
  }
}
