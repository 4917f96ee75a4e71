import {
  CloseCode,
  type Codec,
  ErrorCode,
  type Frame,
  isReservedEvent,
  type Message,
  type Position,
  ProtocolError,
  type ServerMessage,
  TetherError,
} from '@tether/protocol';
import type { BroadcastOperator } from './broadcast.js';
import type { Delivery } from './bus.js';
import type { ConnectionHost } from './connection-host.js';
import type { ConnectionHandshake, Handshake } from './handshake.js';
import type { HeartbeatTarget } from './heartbeat.js';
import type { Admitted } from './limits/admission.js';
import { countsAgainstRateLimit, type InboundRateLimiter } from './limits/rate-limiter.js';
import { frameBytes } from './metrics.js';
import { OutgoingQueue } from './outgoing-queue.js';
import type { ServerTransport, TransportEvents } from './transports/transport.js';
import type { EventData, EventMap, EventName, EventReply, UnknownEvents } from './typed-events.js';

/** Options of `conn.emit` and broadcasts. */
export interface EmitOptions {
  /** Drop instead of queueing when the connection is congested; never retried. */
  volatile?: boolean;
  /** Go ahead of messages already queued for this (congested) connection. */
  urgent?: boolean;
  /** Latest value wins: replaces a queued message of the same event and key (`true`: per event). */
  conflate?: string | true;
}

/** Most frames a client may send while one of its joins is pending. */
const MAX_FRAMES_BEHIND_JOIN = 1_024;

/** Most frames one congested connection may queue; past it the connection is a slow consumer. */
const MAX_QUEUED_FRAMES = 10_000;

/** Options of `conn.request`. */
export interface RequestOptions {
  /** Time to wait for the client's ack per attempt, in ms. Default 5 000. */
  timeout?: number;
  /** Extra attempts after the first, with the same message id. Default 0. */
  retries?: number;
}

type Handler<D, R> = (data: D) => R | Promise<R>;
type HandlerList = Array<Handler<unknown, unknown>>;

export type { ConnectionHandshake, Handshake };

type CloseListener = (reason: string, code: number) => void;

interface RoomMembership {
  readonly room: string;
  /** Last offset delivered to this connection, to drop a message seen twice. */
  offset: number;
  epoch: string;
  /**
   * The epoch the client was last told for this room (in `joined`, or a message's `ep`). Room
   * frames leave the epoch out while it stays this one, so a broadcast is one frame for all.
   */
  told: string;
  /** While a join replays history, live messages wait here so they follow it. */
  pending: Delivery[] | null;
}

/**
 * Rooms a connection keeps in a list, searched in order, before it switches to a Map: most
 * connections are in a room or two, and a short list costs a fraction of a Map (whose empty table
 * alone is 152 bytes) while a scan of a few names is as fast as hashing one.
 */
const LISTED_ROOMS = 8;

/** The state of a connection as the app sees it. */
export type ConnectionState = 'open' | 'closed';

/**
 * One client connection (a WebSocket or an SSE stream). Created by `TetherServer` and handed
 * to `tether.on('connection')` before its first message is handled.
 *
 * @example
 * tether.on('connection', (conn) => {
 *   conn.join(`user:${conn.data.userId}`);
 *   conn.on('chat:send', async (msg) => ({ ok: true }));
 *   conn.on('close', (reason) => console.log(conn.id, 'left:', reason));
 * });
 */
export class Connection<E extends EventMap = UnknownEvents, Data = unknown>
  implements HeartbeatTarget, TransportEvents
{
  /** Unique per connection. */
  readonly id: string;
  /** Stable across the client's reconnects (same client instance). */
  readonly sessionId: string;
  /** What `authenticate` returned. */
  readonly data: Data;
  readonly handshake: ConnectionHandshake;
  /** @internal heartbeat bookkeeping (coarse clock). */
  lastSeen = 0;
  /** @internal the codec this connection speaks. */
  readonly codec: Codec;
  readonly #transport: ServerTransport;
  readonly #host: ConnectionHost;
  /**
   * Event handlers as one flat list, `[event, handlers, event, handlers, ...]`, searched in order.
   * A connection registers a handful of events: a small array scans as fast as a Map hashes and
   * costs a third of one (an empty Map's table alone is 152 bytes), on every idle connection.
   */
  #handlers: Array<string | HandlerList> | undefined;
  #closeListeners: CloseListener[] | undefined;
  /** Its rooms: a list up to `LISTED_ROOMS`, a Map beyond (see there). */
  #rooms: RoomMembership[] | Map<string, RoomMembership> | undefined;
  /** Frames received while a client join is pending; handled once it is done. */
  #afterJoin: Frame[] | undefined;
  /** Frames waiting for the socket to drain (see `sendFrame`); undefined until first congested. */
  #queue: OutgoingQueue | undefined;
  /** `close()` was called: nothing more is queued (the transport drops late writes itself). */
  #closeRequested = false;
  /** Positions the client reported for server-joined rooms when it (re)connected. */
  readonly #resumePositions: Record<string, Position> | undefined;
  /** What admission reserved for this connection (caps, user quota), given back when it closes. */
  readonly #admitted: Admitted;
  /**
   * Inbound rate limit (docs/security.md), made at the first message that counts against it, so
   * idle connections hold none; stays undefined when the server turned it off.
   */
  #limiter: InboundRateLimiter | undefined;

  /** @internal created by TetherServer only. */
  constructor(init: {
    id: string;
    sessionId: string;
    data: Data;
    transport: ServerTransport;
    codec: Codec;
    host: ConnectionHost;
    handshake: Handshake;
    resumePositions?: Record<string, Position>;
    admitted: Admitted;
  }) {
    this.id = init.id;
    this.sessionId = init.sessionId;
    this.data = init.data;
    this.#transport = init.transport;
    this.codec = init.codec;
    this.#host = init.host;
    this.handshake = { url: init.handshake.url, address: init.handshake.address };
    this.#resumePositions = init.resumePositions;
    this.#admitted = init.admitted;
  }

  /** The transport this connection runs on. */
  get transport(): 'websocket' | 'sse' {
    return this.#transport.kind;
  }

  get state(): ConnectionState {
    return this.#closed ? 'closed' : 'open';
  }

  /** The transport is gone (`onClose` ran). */
  get #closed(): boolean {
    return this.#closeCode !== undefined;
  }

  /** The close code once closed. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /**
   * True once the client closed on purpose (code 1000 from its side: `client.close()`), which
   * ends its session. A server-side `close()` does not: the client reconnects.
   */
  get endedByClient(): boolean {
    return this.#closeCode === CloseCode.Normal && !this.#closeRequested;
  }

  /** Set when the transport is gone: the connection is closed from then on. */
  #closeCode: number | undefined;

  /** Rooms this connection is in. */
  get rooms(): ReadonlySet<string> {
    return new Set(this.memberships());
  }

  /**
   * Handles a client event. For `client.request`, the first handler's return value (or
   * resolved promise) is the reply and a throw is an error reply; for `client.emit` the result is ignored.
   * `'close'` is the lifecycle event: `(reason, code)` once the connection is gone.
   */
  on(event: 'close', listener: CloseListener): this;
  on<K extends EventName<E>>(event: K, handler: Handler<EventData<E, K>, EventReply<E, K>>): this;
  on(event: string, handler: Handler<never, unknown> | CloseListener): this {
    // New arrays are made at their exact size (literals, concat): a push grows a small array by 16 slots.
    if (event === 'close') {
      const listener = handler as CloseListener;
      this.#closeListeners = this.#closeListeners ? this.#closeListeners.concat(listener) : [listener];
      return this;
    }
    if (isReservedEvent(event))
      throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
    const table = this.#handlers;
    const at = this.#handlerSlot(event);
    // Added to the event's list in place, so that a dispatch under way calls it too.
    const added = handler as Handler<unknown, unknown>;
    if (at >= 0) (table![at + 1] as HandlerList).push(added);
    else this.#handlers = table ? table.concat([event, [added]]) : [event, [added]];
    return this;
  }

  /** Removes one handler, or every handler of the event. */
  off(event: string, handler?: (...args: never[]) => unknown): this {
    if (event === 'close') {
      this.#closeListeners = handler ? this.#closeListeners?.filter((l) => l !== handler) : undefined;
      return this;
    }
    const table = this.#handlers;
    const at = this.#handlerSlot(event);
    if (!table || at < 0) return this;
    const list = table[at + 1] as HandlerList;
    const rest = handler ? list.filter((h) => h !== handler) : [];
    if (rest.length > 0) table[at + 1] = rest;
    else table.splice(at, 2);
    return this;
  }

  /** The index of `event` in `#handlers` (its handlers follow it), or -1. */
  #handlerSlot(event: string): number {
    const table = this.#handlers;
    if (table === undefined) return -1;
    for (let i = 0; i < table.length; i += 2) if (table[i] === event) return i;
    return -1;
  }

  /** Sends an event to this connection only (fire and forget). */
  emit<K extends EventName<E>>(event: K, data?: EventData<E, K>, options: EmitOptions = {}): boolean {
    if (isReservedEvent(event))
      throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
    const { volatile, urgent, conflate } = options;
    return this.sendFrame(
      this.codec.encode({ t: 'evt', e: event, d: data }),
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
  request<K extends EventName<E>>(
    event: K,
    data?: EventData<E, K>,
    options: RequestOptions = {},
  ): Promise<EventReply<E, K>> {
    if (isReservedEvent(event)) {
      return Promise.reject(new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`));
    }
    return this.#host.requestClient(this, event, data, options) as Promise<EventReply<E, K>>;
  }

  /** Joins a room (no authorization needed server-side). Resolves once messages flow. */
  async join(room: string): Promise<void> {
    const since = this.#resumePositions?.[room];
    await this.#host.joinRoom(
      this,
      room,
      since ? { epoch: since[0], offset: since[1] } : undefined,
      (result) => this.send({ t: 'joined', r: room, ...result }, false),
    );
  }

  /** Leaves a room. */
  async leave(room: string): Promise<void> {
    if (!this.#membership(room)) return;
    await this.#host.leaveRoom(this, room);
    this.send({ t: 'left', r: room }, false);
  }

  /** Broadcasts to a room's members on every node, this connection excluded. */
  to(room: string): BroadcastOperator<E> {
    return this.#host.broadcast(room).except(this.id) as BroadcastOperator<E>;
  }

  /** Closes the connection. The client reconnects unless the code is fatal (see docs/protocol.md). */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.#closed) return;
    // What is queued (a `bye` among it) leaves before the close frame; a slow consumer's is dropped.
    if (code !== CloseCode.SlowConsumer) this.#flushQueue(Number.POSITIVE_INFINITY);
    this.#queue = undefined;
    this.#closeRequested = true;
    this.#transport.close(code, reason);
  }

  // ---- internal: used by TetherServer and its helpers --------------------------------------

  /** @internal */
  send(message: ServerMessage, volatile: boolean): boolean {
    return this.sendFrame(this.codec.encode(message), volatile);
  }

  /**
   * @internal frames are pre-encoded for broadcasts. The fast path writes straight to the
   * transport while it holds less than `lowWaterBytes` and nothing is queued. Otherwise the frame
   * goes to this connection's queue (urgent first, conflated replaced, volatile dropped), which
   * the transport's drain hook empties; past 4x `maxBufferedBytes` the connection is closed.
   * `key` is a direct emit's conflation key. Room messages go through `deliver`, which carries theirs.
   */
  sendFrame(frame: Frame, volatile: boolean, urgent = false, key?: string): boolean {
    if (this.#closed) return false;
    if (this.#canWriteNow()) {
      this.#write(frame);
      return true;
    }
    return this.#sendCongested(frame, volatile, urgent, key, undefined);
  }

  /** Nothing queued and the socket below its low-water mark: a frame can go straight out. */
  #canWriteNow(): boolean {
    return (
      (this.#queue === undefined || this.#queue.length === 0) &&
      this.#transport.bufferedAmount < this.#host.options.lowWaterBytes
    );
  }

  /**
   * The frame a room message goes out as: the shared broadcast frame, or one of this
   * connection's own when the message overtook older ones of its room (`o: 1`, or the client
   * would take its offset for its resume position and drop the older ones as duplicates) or
   * when its epoch is news to the client (`ep`).
   */
  #roomFrame(membership: RoomMembership, delivery: Delivery, shared: Frame, overtook: boolean): Frame {
    const newEpoch = !delivery.volatile && membership.told !== delivery.epoch;
    if (!newEpoch && !overtook) return shared;
    if (newEpoch) membership.told = delivery.epoch;
    return this.codec.encode(roomMessage(delivery, overtook, newEpoch));
  }

  #write(frame: Frame): void {
    this.#transport.send(frame);
    this.#host.counters.messagesOut++;
    this.#host.counters.bytesOut += frameBytes(frame);
  }

  #sendCongested(
    frame: Frame,
    volatile: boolean,
    urgent: boolean,
    key: string | undefined,
    delivery: Delivery | undefined,
  ): boolean {
    if (this.#closeRequested) return false;
    const transport = this.#transport;
    const limit = this.#host.options.maxBufferedBytes;
    const buffered = transport.bufferedAmount;
    // Transports without a drain hook have no queue: volatile drops past the limit, writes go on.
    const queueing = transport.requestDrain !== undefined;
    if (volatile && (queueing || buffered > limit)) {
      this.#host.counters.volatileDropped++;
      return false;
    }
    if (!queueing) {
      if (buffered <= limit * 4) {
        this.#write(frame);
        return true;
      }
      return this.#slowConsumer();
    }
    const queue = (this.#queue ??= new OutgoingQueue());
    if (delivery?.conflate !== undefined) key = `${delivery.room}\0${delivery.event}\0${delivery.conflate}`;
    queue.push(frame, frameBytes(frame), urgent, key, delivery);
    if (buffered + queue.bytes > limit * 4 || queue.length > MAX_QUEUED_FRAMES) return this.#slowConsumer();
    transport.requestDrain!();
    return true;
  }

  #slowConsumer(): false {
    this.#host.counters.slowConsumerCloses++;
    this.close(CloseCode.SlowConsumer, 'slow consumer');
    return false;
  }

  /** @internal the transport drained: write queued frames until it is full again. */
  onDrain(): void {
    if (this.#closed || !this.#queue) return;
    this.#flushQueue(this.#host.options.lowWaterBytes);
    if (this.#queue.length > 0) this.#transport.requestDrain?.();
  }

  #flushQueue(lowWater: number): void {
    const queue = this.#queue;
    if (!queue) return;
    while (queue.length > 0 && this.#transport.bufferedAmount < lowWater) {
      const entry = queue.shift()!;
      const membership = entry.delivery && this.#membership(entry.delivery.room);
      this.#write(
        membership ? this.#roomFrame(membership, entry.delivery!, entry.frame, entry.overtakes) : entry.frame,
      );
    }
  }

  /** @internal a room message from the bus, already encoded for this connection's codec. */
  deliver(delivery: Delivery, frame: Frame): void {
    const membership = this.#membership(delivery.room);
    if (!membership) return;
    if (membership.pending) {
      membership.pending.push(delivery);
      return;
    }
    if (!delivery.volatile) {
      if (delivery.epoch === membership.epoch && delivery.offset <= membership.offset) return;
      membership.epoch = delivery.epoch;
      membership.offset = delivery.offset;
    }
    if (this.#closed) return;
    if (this.#canWriteNow()) this.#write(this.#roomFrame(membership, delivery, frame, false));
    else
      this.#sendCongested(frame, delivery.volatile === true, delivery.urgent === true, undefined, delivery);
  }

  /** @internal the client was answered `joined` with this epoch for a room it is already in. */
  toldEpoch(room: string, epoch: string): void {
    const membership = this.#membership(room);
    if (membership) membership.told = epoch;
  }

  /** @internal starts a membership whose live messages wait until `completeJoin`. */
  beginJoin(room: string): boolean {
    if (this.#membership(room)) return false;
    const membership: RoomMembership = { room, offset: 0, epoch: '', told: '', pending: [] };
    const rooms = this.#rooms;
    if (rooms === undefined) this.#rooms = [membership];
    else if (rooms instanceof Map) rooms.set(room, membership);
    // A copy at its exact size: a push would grow the list by 16 slots.
    else if (rooms.length < LISTED_ROOMS) this.#rooms = rooms.concat(membership);
    else this.#rooms = new Map([...rooms, membership].map((m) => [m.room, m]));
    return true;
  }

  #membership(room: string): RoomMembership | undefined {
    const rooms = this.#rooms;
    if (rooms === undefined) return undefined;
    if (rooms instanceof Map) return rooms.get(room);
    for (let i = 0; i < rooms.length; i++) if (rooms[i]!.room === room) return rooms[i];
    return undefined;
  }

  /**
   * @internal replays history, then the live messages that arrived meanwhile, in offset order,
   * once each. `baseline` is the last offset the client already has.
   */
  completeJoin(room: string, epoch: string, baseline: number, replay: readonly Delivery[]): void {
    const membership = this.#membership(room);
    if (!membership?.pending) return;
    const waiting = membership.pending;
    membership.pending = null;
    membership.epoch = epoch;
    membership.told = epoch; // the client got it in `joined`, sent before this
    membership.offset = baseline;
    for (const delivery of replay) this.deliver(delivery, this.codec.encode(roomMessage(delivery)));
    for (const delivery of waiting) this.deliver(delivery, this.codec.encode(roomMessage(delivery)));
  }

  /** @internal */
  endMembership(room: string): boolean {
    const rooms = this.#rooms;
    if (rooms === undefined) return false;
    if (rooms instanceof Map) return rooms.delete(room);
    const at = rooms.findIndex((m) => m.room === room);
    if (at < 0) return false;
    if (rooms.length === 1) this.#rooms = undefined;
    else rooms.splice(at, 1);
    return true;
  }

  /** @internal the names of its rooms. */
  memberships(): IterableIterator<string> {
    const rooms = this.#rooms;
    if (rooms instanceof Map) return rooms.keys();
    return (rooms ?? []).map((m) => m.room).values();
  }

  /** @internal heartbeat */
  sendPing(): void {
    this.sendFrame(this.#host.pingFrame(this.codec), true);
  }

  /** @internal heartbeat deadline passed: the peer is gone. */
  expire(): void {
    this.#host.logger.debug({ connId: this.id }, 'heartbeat timeout');
    this.#closeReason = 'heartbeat timeout';
    this.#transport.terminate();
  }

  #closeReason: string | undefined;

  /** @internal a frame from the transport. */
  onFrame(frame: Frame): void {
    this.lastSeen = this.#host.clock.elapsed;
    this.#host.counters.messagesIn++;
    this.#host.counters.bytesIn += frameBytes(frame);
    if (this.#afterJoin) {
      if (this.#afterJoin.push(frame) > MAX_FRAMES_BEHIND_JOIN) {
        this.#violation(
          new ProtocolError(
            ErrorCode.BadMessage,
            'too many messages behind a pending join',
            CloseCode.RateLimited,
          ),
        );
      }
      return;
    }
    this.#process(frame);
  }

  #process(frame: Frame): void {
    let message: Message;
    try {
      message = this.codec.decode(frame);
    } catch (err) {
      this.#violation(err as ProtocolError);
      return;
    }
    // Over its rate limit the message is answered (RATE_LIMITED) or dropped by the limiter.
    if (countsAgainstRateLimit(message)) {
      const limiter = (this.#limiter ??= this.#admitted.limiter(this.#transport));
      if (limiter && !limiter.admit(message, this)) return;
    }
    this.#handle(message);
  }

  /** @internal the transport is gone. */
  onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closeCode = code;
    this.#queue = undefined;
    this.#limiter?.dispose();
    this.#admitted.release();
    this.#host.connectionClosed(this, code);
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    this.#handlers = undefined;
    const why = this.#closeReason ?? (reason || describeClose(code));
    for (const listener of listeners ?? []) {
      try {
        listener(why, code);
      } catch (err) {
        this.#host.logger.error({ err, connId: this.id }, 'close listener threw');
      }
    }
  }

  /** @internal the handlers of an event (the first one answers requests). */
  handlersOf(event: string): ReadonlyArray<Handler<unknown, unknown>> | undefined {
    const at = this.#handlerSlot(event);
    return at < 0 ? undefined : (this.#handlers![at + 1] as HandlerList);
  }

  #handle(message: Message): void {
    switch (message.t) {
      case 'evt':
        this.#dispatchEvent(message.e, message.d);
        return;
      case 'req':
        this.#host.handleRequestMessage(this, message);
        return;
      case 'res':
      case 'err':
        this.#host.handleReply(message);
        return;
      case 'join':
        this.#holdUntil(this.#host.handleJoin(this, message));
        return;
      case 'leave':
        void this.leaveQuietly(message.r);
        return;
      case 'pong':
        return;
      default:
        this.#violation(
          new ProtocolError(
            ErrorCode.BadMessage,
            `"${message.t}" is not a client message`,
            CloseCode.BadMessage,
          ),
        );
    }
  }

  /** @internal a client-initiated leave: no `left` echo. */
  async leaveQuietly(room: string): Promise<void> {
    if (this.#membership(room)) await this.#host.leaveRoom(this, room);
  }

  /**
   * Frames that follow a join wait until it is done, so a connection's messages are handled in
   * the order sent: a request right after a (re)join sees the room joined, however long an
   * async `authorizeJoin` takes.
   */
  #holdUntil(join: Promise<void>): void {
    this.#afterJoin = [];
    void join.finally(() => {
      const held = this.#afterJoin ?? [];
      this.#afterJoin = undefined;
      for (let i = 0; i < held.length; i++) {
        if (this.#closed) return;
        this.#process(held[i]!);
        // Another join among them: the rest waits for that one.
        if (this.#afterJoin) {
          (this.#afterJoin as Frame[]).unshift(...held.slice(i + 1));
          return;
        }
      }
    });
  }

  #dispatchEvent(event: string, data: unknown): void {
    if (isReservedEvent(event)) {
      this.#host.counters.rejected++;
      return;
    }
    for (const handler of this.handlersOf(event) ?? []) {
      try {
        const result = handler(data);
        if (result instanceof Promise)
          result.catch((err) => this.#host.logger.warn({ err, event }, 'event handler rejected'));
      } catch (err) {
        this.#host.logger.warn({ err, event }, 'event handler threw');
      }
    }
  }

  #violation(err: ProtocolError): void {
    this.#host.counters.rejected++;
    this.#host.logger.debug({ connId: this.id, code: err.code, msg: err.message }, 'protocol violation');
    this.close(err.closeCode ?? CloseCode.BadMessage, err.message);
  }
}

/**
 * The wire form of a room message; `overtook` marks it delivered ahead of older ones (`o: 1`),
 * `withEpoch` names its epoch (`ep`) for a client that has not been told it.
 */
export function roomMessage(delivery: Delivery, overtook = false, withEpoch = false): ServerMessage {
  const message: ServerMessage = {
    t: 'msg',
    r: delivery.room,
    e: delivery.event,
    d: delivery.data,
    off: delivery.offset,
  };
  if (withEpoch) message.ep = delivery.epoch;
  if (delivery.volatile) message.v = 1;
  if (overtook) message.o = 1;
  if (delivery.conflate !== undefined) message.k = delivery.conflate;
  return message;
}

function describeClose(code: number): string {
  switch (code) {
    case CloseCode.Normal:
      return 'client closed';
    case CloseCode.GoingAway:
      return 'going away';
    case CloseCode.Abnormal:
      return 'connection lost';
    case CloseCode.MessageTooBig:
      return 'message too big';
    default:
      return `closed with code ${code}`;
  }
}
