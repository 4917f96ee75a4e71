import {
  CloseCode,
  type Codec,
  ErrorCode,
  fromWirePosition,
  isReservedEvent,
  TetherError,
} from '@tether/protocol';
import type { BroadcastOperator } from './broadcast.js';
import type { ConnectionEngine } from './connection-engine.js';
import type { Handler } from './handler-table.js';
import type { ConnectionHandshake, Handshake } from './handshake.js';
import type { EmitOptions, RequestOptions } from './send-options.js';
import type {
  ClientEventName,
  EventData,
  EventMap,
  EventReply,
  PayloadArgs,
  ServerEventName,
  UnknownEvents,
} from './typed-events.js';

export type { ConnectionHandshake, EmitOptions, Handshake, RequestOptions };

type CloseListener = (reason: string, code: number) => void;

/** The state of a connection as the app sees it. */
export type ConnectionState = 'open' | 'closed';

/** Makes the handle of an engine (the constructor is private); set once, below. */
let makeHandle: (engine: ConnectionEngine) => Connection<EventMap, unknown>;

/**
 * One client connection (a WebSocket or an SSE stream), as the app holds it. Created by
 * `TetherServer` and handed to `tether.on('connection')` before its first message is handled.
 * A small handle: the work happens in the server's engine behind it.
 *
 * @example
 * tether.on('connection', (conn) => {
 *   conn.join(`user:${conn.data.userId}`);
 *   conn.on('chat:send', async (msg) => ({ ok: true }));
 *   conn.on('close', (reason) => console.log(conn.id, 'left:', reason));
 * });
 */
export class Connection<E extends EventMap = UnknownEvents, Data = unknown> {
  readonly #engine: ConnectionEngine;

  static {
    makeHandle = (engine) => new Connection(engine);
  }

  private constructor(engine: ConnectionEngine) {
    this.#engine = engine;
  }

  /** Unique per connection. */
  get id(): string {
    return this.#engine.id;
  }

  /** Stable across the client's reconnects (same client instance). */
  get sessionId(): string {
    return this.#engine.sessionId;
  }

  /** What `authenticate` returned. */
  get data(): Data {
    return this.#engine.data as Data;
  }

  /** The URL and address of the request that opened it (not its headers). */
  get handshake(): ConnectionHandshake {
    return this.#engine.handshake;
  }

  /** The codec this connection speaks (its negotiated subprotocol). */
  get codec(): Codec {
    return this.#engine.codec;
  }

  /** The transport this connection runs on. */
  get transport(): 'websocket' | 'sse' {
    return this.#engine.transportKind;
  }

  get state(): ConnectionState {
    return this.#engine.closed ? 'closed' : 'open';
  }

  /** The close code once closed. */
  get closeCode(): number | undefined {
    return this.#engine.closeCode;
  }

  /**
   * True once the client closed on purpose (code 1000 from its side: `client.close()`), which
   * ends its session. A server-side `close()` does not: the client reconnects.
   */
  get endedByClient(): boolean {
    return this.#engine.endedByClient;
  }

  /** Rooms this connection is in. */
  get rooms(): ReadonlySet<string> {
    return new Set(this.#engine.roomNames());
  }

  /**
   * Handles a client event. For `client.request`, the first handler's return value (or
   * resolved promise) is the reply and a throw is an error reply; for `client.emit` the result is ignored.
   * `'close'` is the lifecycle event: `(reason, code)` once the connection is gone.
   */
  on(event: 'close', listener: CloseListener): this;
  on<K extends ClientEventName<E>>(
    event: K,
    handler: (data: EventData<E, K>) => EventReply<E, K> | Promise<EventReply<E, K>>,
  ): this;
  on(event: string, handler: ((data: never) => unknown) | CloseListener): this {
    if (event === 'close') {
      this.#engine.addCloseListener(handler as CloseListener);
      return this;
    }
    if (isReservedEvent(event))
      throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
    this.#engine.addHandler(event, handler as Handler);
    return this;
  }

  /** Removes one handler, or every handler of the event. */
  off(event: string, handler?: (...args: never[]) => unknown): this {
    if (event === 'close') this.#engine.removeCloseListener(handler);
    else this.#engine.removeHandler(event, handler);
    return this;
  }

  /** Sends an event to this connection only (fire and forget). */
  emit<K extends ServerEventName<E>>(event: K, ...args: PayloadArgs<E, K, [options?: EmitOptions]>): boolean {
    if (isReservedEvent(event))
      throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
    const [data, options = {}] = args as [unknown, EmitOptions?];
    const { volatile, urgent, conflate } = options;
    const engine = this.#engine;
    return engine.sendFrame(
      engine.codec.encode({ t: 'evt', e: event, d: data }),
      volatile === true,
      urgent === true,
      conflate === undefined ? undefined : `\0${event}\0${conflate === true ? '' : conflate}`,
    );
  }

  /**
   * Sends an event the client must ack; retries with the same id while the session lives
   * (also across the client's reconnects to this node). Rejects with `TetherError` code
   * TIMEOUT after the last attempt; the server then emits `undelivered`.
   */
  request<K extends ServerEventName<E>>(
    event: K,
    ...args: PayloadArgs<E, K, [options?: RequestOptions]>
  ): Promise<EventReply<E, K>> {
    if (isReservedEvent(event)) {
      return Promise.reject(new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`));
    }
    const [data, options = {}] = args as [unknown, RequestOptions?];
    const engine = this.#engine;
    return engine.context.requestClient(engine, event, data, options) as Promise<EventReply<E, K>>;
  }

  /** Joins a room (no authorization needed server-side). Resolves once messages flow. */
  async join(room: string): Promise<void> {
    const engine = this.#engine;
    await engine.context.join(engine, room, fromWirePosition(engine.resumePosition(room)), (result) =>
      engine.send({ t: 'joined', r: room, ...result }, false),
    );
  }

  /** Leaves a room. */
  async leave(room: string): Promise<void> {
    const engine = this.#engine;
    if (!engine.isMember(room)) return;
    await engine.context.leave(engine, room);
    engine.send({ t: 'left', r: room }, false);
  }

  /** Broadcasts to a room's members on every node, this connection excluded. */
  to(room: string): BroadcastOperator<E> {
    return this.#engine.context.broadcast(room).except(this.id) as BroadcastOperator<E>;
  }

  /** Closes the connection. The client reconnects unless the code is fatal (see docs/protocol.md). */
  close(code: number = CloseCode.Normal, reason = ''): void {
    this.#engine.close(code, reason);
  }
}

/**
 * The handle apps get for an engine: made once, when the engine is made.
 *
 * @example
 * engine.handle = handleFor(engine);
 */
export function handleFor(engine: ConnectionEngine): Connection<EventMap, unknown> {
  return makeHandle(engine);
}

/**
 * The handle of an engine made by the gateway (it always has one).
 *
 * @example
 * await options.authorizeJoin(handleOf(engine), room);
 */
export function handleOf(engine: ConnectionEngine): Connection<EventMap, unknown> {
  return engine.handle as Connection<EventMap, unknown>;
}
