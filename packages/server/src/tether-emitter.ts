import { ErrorCode, TetherError } from '@tether/protocol';
import {
  BroadcastOperator,
  type BroadcastOptions,
  type PublishPolicy,
  publishBroadcast,
} from './broadcast.js';
import type { Bus, HistoryPolicy, PublishResult } from './bus.js';
import type { Inbox, InboxNotifyOptions, InboxNotifyResult } from './inbox.js';
import { resolveOptions } from './options.js';
import type { EventMap, UnknownEvents } from './typed-events.js';
import {
  sendToUserNodes,
  USER_MESSAGE,
  UserOperator,
  type UserSender,
  userKeyString,
} from './user-directory.js';

/** Options of `new TetherEmitter(options)`. */
export interface TetherEmitterOptions {
  /** The bus the Tether servers use (a `RedisBus` across processes, or a shared `MemoryBus` in one). */
  bus: Bus;
  /**
   * History kept per room, as in `TetherServer`'s option of the same name. Give the servers'
   * value: a room's retention is whatever its latest publication asked for. Default: the
   * server's default (5 minutes, within 1 MiB and 10,000 messages per room).
   */
  history?: HistoryPolicy | false | ((room: string) => HistoryPolicy | false);
  /** Window in ms in which a publish `id` publishes once. Default 5 minutes (the server's default). */
  dedupWindowMs?: number;
  /**
   * The servers' notification inbox (a `PostgresInbox` or `RedisInbox` they share), for
   * `emitter.user(key).notify(...)`. Not closed by the emitter. Without it `notify` rejects.
   */
  inbox?: Inbox;
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
  readonly #inbox: Inbox | undefined;
  readonly #users: UserSender;
  #closing: Promise<void> | undefined;

  constructor(options: TetherEmitterOptions) {
    // The server's own resolution, so both sides get the same defaults.
    const resolved = resolveOptions({ history: options.history, dedupWindowMs: options.dedupWindowMs });
    this.#bus = options.bus;
    this.#policy = { historyFor: resolved.historyFor, dedupWindowMs: resolved.dedupWindowMs };
    this.#closeBus = options.closeBus ?? true;
    this.#inbox = options.inbox;
    this.#users = {
      emit: (user, event, data) =>
        this.#open().then(() =>
          sendToUserNodes(this.#bus, { kind: USER_MESSAGE, op: 'emit', user, event, data }),
        ),
      notify: (user, event, data, notifyOptions) => this.#notify(user, event, data, notifyOptions),
      disconnect: (user, reason) =>
        this.#open().then(() =>
          sendToUserNodes(this.#bus, { kind: USER_MESSAGE, op: 'disconnect', user, reason }),
        ),
    };
  }

  /**
   * One user's connections on every Tether node: `emit` live, `notify` durably (needs the
   * `inbox` option), `disconnect`. The same as `tether.user(key)` on a server.
   */
  user(key: string | number): UserOperator<E> {
    return new UserOperator<E>(this.#users, userKeyString(key));
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

  #open(): Promise<void> {
    return this.#closing
      ? Promise.reject(new TetherError(ErrorCode.Closed, 'the emitter is closed'))
      : Promise.resolve();
  }

  async #notify(
    user: string,
    event: string,
    data: unknown,
    options: InboxNotifyOptions,
  ): Promise<InboxNotifyResult> {
    await this.#open();
    if (!this.#inbox)
      throw new TetherError(
        ErrorCode.Internal,
        "emitter.user(key).notify needs the emitter's `inbox` option",
      );
    return this.#inbox.notify(user, event, data, options);
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
