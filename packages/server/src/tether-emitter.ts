import { ErrorCode, TetherError } from '@tether/protocol';
import {
  BroadcastOperator,
  type BroadcastOptions,
  type PublishPolicy,
  publishBroadcast,
} from './broadcast.js';
import type { Bus, HistoryPolicy, PublishResult } from './bus.js';
import { resolveOptions } from './options.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

/** Options of `new TetherEmitter(options)`. */
export interface TetherEmitterOptions {
  /** The bus the Tether servers use (a `RedisBus` across processes, or a shared `MemoryBus` in one). */
  bus: Bus;
  /**
   * History kept per room, as in `TetherServer`'s option of the same name. Give the servers'
   * value: a room's retention is whatever its latest publication asked for. Default 100
   * messages, 2 minutes (the server's default).
   */
  history?: HistoryPolicy | false | ((room: string) => HistoryPolicy | false);
  /** Window in ms in which a publish `id` publishes once. Default 5 minutes (the server's default). */
  dedupWindowMs?: number;
  /**
   * Whether `close()` also closes the bus. Default true: a bus made just for the emitter is
   * released with it. Pass false when the bus is shared with a `TetherServer` in this process.
   */
  closeBus?: boolean;
}

/**
 * Publishes to Tether rooms from a process that serves no connections (workers, cron jobs,
 * other backend services). A message goes through the bus exactly like `tether.to(room).emit`:
 * it takes the room's next offset, is stored in the room's history, and reaches every member
 * on every node, so clients that reconnect recover it. With an `id`, a repeated publish within
 * the dedup window is dropped (the result says `duplicate: true`).
 *
 * @example
 * import { TetherEmitter } from '@tether/server';
 * import { RedisBus } from '@tether/redis-bus';
 *
 * const emitter = new TetherEmitter({ bus: new RedisBus({ url: 'redis://127.0.0.1:6379' }) });
 * const { offset, duplicate } = await emitter.to('order:42').emit('status', { state: 'picked-up' }, { id: 'evt-981' });
 * await emitter.close();
 */
export class TetherEmitter<E extends EventMap = UnknownEvents> {
  readonly #bus: Bus;
  readonly #policy: PublishPolicy;
  readonly #closeBus: boolean;
  #closing: Promise<void> | undefined;

  constructor(options: TetherEmitterOptions) {
    // The server's own resolution, so both sides get the same defaults.
    const resolved = resolveOptions({ history: options.history, dedupWindowMs: options.dedupWindowMs });
    this.#bus = options.bus;
    this.#policy = { historyFor: resolved.historyFor, dedupWindowMs: resolved.dedupWindowMs };
    this.#closeBus = options.closeBus ?? true;
  }

  /** The room to publish to. `except(connIds)` on the result skips some connections, as on a server. */
  to(room: string): BroadcastOperator<E> {
    return new BroadcastOperator<E>(this.#publish, room);
  }

  /** Stops publishing (later emits reject with code `CLOSED`) and closes the bus unless `closeBus: false`. */
  close(): Promise<void> {
    this.#closing ??= this.#closeBus ? this.#bus.close() : Promise.resolve();
    return this.#closing;
  }

  readonly #publish = (
    room: string,
    event: string,
    data: unknown,
    except: readonly string[],
    options: BroadcastOptions,
  ): Promise<PublishResult> => {
    if (this.#closing) return Promise.reject(new TetherError(ErrorCode.Closed, 'the emitter is closed'));
    return publishBroadcast(this.#bus, this.#policy, room, event, data, except, options);
  };
}
