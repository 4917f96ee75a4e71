import {
  CloseCode,
  type Codec,
  ErrorCode,
  type Frame,
  type Message,
  type Position,
  ProtocolError,
  type ServerMessage,
} from '@tether/protocol';
import type { Delivery } from './bus.js';
import type { CloseListener, CloseListeners } from './close-listeners.js';
import * as closeListeners from './close-listeners.js';
import type { ConnectionContext as Context } from './connection-context.js';
import type { Handler, Handlers, HandlerTable } from './handler-table.js';
import * as handlerTable from './handler-table.js';
import { type ConnectionHandshake, type Handshake, sharedUrl } from './handshake.js';
import type { HeartbeatTarget } from './heartbeat.js';
import { refuseFrame } from './inbound.js';
import type { Admitted } from './limits/admission.js';
import { countsAgainstRateLimit, type InboundRateLimiter } from './limits/rate-limiter.js';
import { frameBytes } from './metrics.js';
import { OutgoingQueue } from './outgoing-queue.js';
import { roomFrame } from './room-frame.js';
import {
  addMembership,
  findMembership,
  newMembership,
  type RoomMemberships,
  removeMembership,
  roomCount,
  roomNames,
} from './room-memberships.js';
import { describeClose, roomMessage } from './server-messages.js';
import type { ServerTransport, TransportEvents } from './transports/transport.js';

/** Most frames a client may send while one of its joins is pending. */
const MAX_FRAMES_BEHIND_JOIN = 1_024;

/** Most frames one congested connection may queue; past it the connection is a slow consumer. */
const MAX_QUEUED_FRAMES = 10_000;

/** What an engine asks of the server's parts (see `connection-context.ts`). */
export type ConnectionContext = Context<ConnectionEngine>;

/** What the gateway knows when it makes an engine. */
export interface EngineInit {
  id: string;
  sessionId: string;
  data: unknown;
  transport: ServerTransport;
  codec: Codec;
  context: ConnectionContext;
  handshake: Handshake;
  /** Positions the client reported for server-joined rooms when it (re)connected. */
  resumePositions?: Record<string, Position>;
  admitted: Admitted;
}

/**
 * The engine behind one `Connection` handle: its outbound queue and flow control, its inbound
 * dispatch, its room memberships and its lifecycle. The server's parts work on engines; apps see
 * the handle only. Kept small in memory: thousands of idle connections each hold one.
 *
 * @example
 * const engine = new ConnectionEngine({ id, sessionId, data, transport, codec, context, handshake, admitted });
 * transport.events = engine;
 */
export class ConnectionEngine implements HeartbeatTarget, TransportEvents {
  readonly id: string;
  readonly sessionId: string;
  /** What `authenticate` returned; replaced by a credentials refresh (identity.ts). */
  data: unknown;
  readonly handshake: ConnectionHandshake;
  readonly codec: Codec;
  /** The app's handle (a `Connection`), set once by whoever made the engine. */
  handle: object | undefined;
  /** Heartbeat bookkeeping (coarse clock). */
  lastSeen = 0;
  readonly #transport: ServerTransport;
  readonly #context: ConnectionContext;
  #handlers: HandlerTable;
  #closeListeners: CloseListeners;
  #rooms: RoomMemberships;
  /** Frames received while a client join is pending; handled once it is done. */
  #afterJoin: Frame[] | undefined;
  /** Frames waiting for the socket to drain (see `sendFrame`); undefined until first congested. */
  #queue: OutgoingQueue | undefined;
  /** `close()` was called: nothing more is queued (the transport drops late writes itself). */
  #closeRequested = false;
  readonly #resumePositions: Record<string, Position> | undefined;
  /** What admission reserved for this connection (caps, user quota), given back when it closes. */
  readonly #admitted: Admitted;
  /**
   * Inbound rate limit (docs/security.md), made at the first message that counts against it, so
   * idle connections hold none; null once asked when the server turned it off.
   */
  #limiter: InboundRateLimiter | null | undefined;
  /** Set when the transport is gone: the connection is closed from then on. */
  #closeCode: number | undefined;
  #closeReason: string | undefined;

  constructor(init: EngineInit) {
    this.id = init.id;
    this.sessionId = init.sessionId;
    this.data = init.data;
    this.#transport = init.transport;
    this.codec = init.codec;
    this.#context = init.context;
    this.handshake = { url: sharedUrl(init.handshake.url), address: init.handshake.address };
    this.#resumePositions = init.resumePositions;
    this.#admitted = init.admitted;
  }

  get transportKind(): 'websocket' | 'sse' {
    return this.#transport.kind;
  }

  /** The transport is gone (`onClose` ran). */
  get closed(): boolean {
    return this.#closeCode !== undefined;
  }

  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** The client closed on purpose (1000 from its side), which ends its session. */
  get endedByClient(): boolean {
    return this.#closeCode === CloseCode.Normal && !this.#closeRequested;
  }

  get context(): ConnectionContext {
    return this.#context;
  }

  /** Where the client said it was in `room` when it (re)connected, for a server-side join. */
  resumePosition(room: string): Position | undefined {
    return this.#resumePositions?.[room];
  }

  // ---- handlers -------------------------------------------------------------------------------

  addHandler(event: string, handler: Handler): void {
    this.#handlers = handlerTable.addHandler(this.#handlers, event, handler);
  }

  removeHandler(event: string, handler?: unknown): void {
    handlerTable.removeHandler(this.#handlers, event, handler);
  }

  /** The handlers of an event (a lone one as itself). */
  handlersOf(event: string): Handlers | undefined {
    return handlerTable.handlersOf(this.#handlers, event);
  }

  /** The handler that answers requests for an event. */
  firstHandler(event: string): Handler | undefined {
    return handlerTable.firstHandler(this.#handlers, event);
  }

  addCloseListener(listener: CloseListener): void {
    this.#closeListeners = closeListeners.addCloseListener(this.#closeListeners, listener);
  }

  removeCloseListener(listener?: unknown): void {
    this.#closeListeners = closeListeners.removeCloseListener(this.#closeListeners, listener);
  }

  // ---- outbound -------------------------------------------------------------------------------

  send(message: ServerMessage, volatile: boolean): boolean {
    return this.sendFrame(this.codec.encode(message), volatile);
  }

  /**
   * Frames are pre-encoded for broadcasts. The fast path writes straight to the transport while
   * it holds less than `lowWaterBytes` and nothing is queued. Otherwise the frame goes to this
   * connection's queue (urgent first, conflated replaced, volatile dropped), which the transport's
   * drain hook empties; past 4x `maxBufferedBytes` the connection is closed. `key` is a direct
   * emit's conflation key. Room messages go through `deliver`, which carries theirs.
   */
  sendFrame(frame: Frame, volatile: boolean, urgent = false, key?: string): boolean {
    if (this.closed) return false;
    if (this.#canWriteNow()) {
      this.#write(frame);
      return true;
    }
    return this.#sendCongested(frame, volatile, urgent, key, undefined);
  }

  /** Closes the transport; what is queued leaves first unless the reader is too slow. */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.closed) return;
    // What is queued (a `bye` among it) leaves before the close frame; a slow consumer's is dropped.
    if (code !== CloseCode.SlowConsumer) this.#flushQueue(Number.POSITIVE_INFINITY);
    this.#queue = undefined;
    this.#closeRequested = true;
    this.#transport.close(code, reason);
  }

  /** Nothing queued and the socket below its low-water mark: a frame can go straight out. */
  #canWriteNow(): boolean {
    return (
      (this.#queue === undefined || this.#queue.length === 0) &&
      this.#transport.bufferedAmount < this.#context.lowWaterBytes
    );
  }

  #write(frame: Frame): void {
    this.#transport.send(frame);
    const counters = this.#context.counters;
    counters.messagesOut++;
    counters.bytesOut += frameBytes(frame);
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
    const limit = this.#context.maxBufferedBytes;
    const buffered = transport.bufferedAmount;
    // Transports without a drain hook have no queue: volatile drops past the limit, writes go on.
    const queueing = transport.requestDrain !== undefined;
    if (volatile && (queueing || buffered > limit)) {
      this.#context.counters.volatileDropped++;
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
    this.#context.counters.slowConsumerCloses++;
    this.close(CloseCode.SlowConsumer, 'slow consumer');
    return false;
  }

  /** The transport drained: write queued frames until it is full again. */
  onDrain(): void {
    if (this.closed || !this.#queue) return;
    this.#flushQueue(this.#context.lowWaterBytes);
    if (this.#queue.length > 0) this.#transport.requestDrain?.();
  }

  #flushQueue(lowWater: number): void {
    const queue = this.#queue;
    if (!queue) return;
    while (queue.length > 0 && this.#transport.bufferedAmount < lowWater) {
      const entry = queue.shift()!;
      const membership = entry.delivery && findMembership(this.#rooms, entry.delivery.room);
      const { frame, delivery, overtakes } = entry;
      this.#write(membership ? roomFrame(this.codec, membership, delivery!, frame, overtakes) : frame);
    }
  }

  // ---- rooms ----------------------------------------------------------------------------------

  /** A room message from the bus, already encoded for this connection's codec. */
  deliver(delivery: Delivery, frame: Frame): void {
    const membership = findMembership(this.#rooms, delivery.room);
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
    if (this.closed) return;
    if (this.#canWriteNow()) this.#write(roomFrame(this.codec, membership, delivery, frame, false));
    else
      this.#sendCongested(frame, delivery.volatile === true, delivery.urgent === true, undefined, delivery);
  }

  /** Offsets of `room` up to `offset` are left out on purpose (`except`, a reported loss). */
  passOver(room: string, offset: number): void {
    const membership = findMembership(this.#rooms, room);
    if (membership && membership.skipped < offset) membership.skipped = offset;
  }

  isMember(room: string): boolean {
    return findMembership(this.#rooms, room) !== undefined;
  }

  /** The client was answered `joined` with this epoch for a room it is already in. */
  toldEpoch(room: string, epoch: string): void {
    const membership = findMembership(this.#rooms, room);
    if (membership) membership.told = epoch;
  }

  /** Starts a membership whose live messages wait until `completeJoin`; false if already a member. */
  beginJoin(room: string): boolean {
    if (findMembership(this.#rooms, room)) return false;
    this.#rooms = addMembership(this.#rooms, newMembership(room));
    return true;
  }

  /** Holds a joined room's live messages again until `completeJoin` (a resync); false if not possible. */
  holdRoom(room: string): boolean {
    const membership = findMembership(this.#rooms, room);
    return membership !== undefined && !membership.pending && (membership.pending = []) !== null;
  }

  /**
   * Replays history, then the live messages that arrived meanwhile, in offset order, once each.
   * `baseline` is the last offset the client already has.
   */
  completeJoin(room: string, epoch: string, baseline: number, replay: readonly Delivery[]): void {
    const membership = findMembership(this.#rooms, room);
    if (!membership?.pending) return;
    const waiting = membership.pending;
    membership.pending = null;
    membership.epoch = epoch;
    membership.told = epoch; // the client got it in `joined`, sent before this
    membership.offset = membership.sent = membership.skipped = baseline;
    for (const delivery of replay) this.deliver(delivery, this.codec.encode(roomMessage(delivery)));
    for (const delivery of waiting) this.deliver(delivery, this.codec.encode(roomMessage(delivery)));
  }

  /** Ends a membership; false when it was not one. */
  endMembership(room: string): boolean {
    const rest = removeMembership(this.#rooms, room);
    if (rest === false) return false;
    this.#rooms = rest;
    return true;
  }

  get roomCount(): number {
    return roomCount(this.#rooms);
  }

  /** The names of its rooms. */
  roomNames(): IterableIterator<string> {
    return roomNames(this.#rooms);
  }

  // ---- heartbeat ------------------------------------------------------------------------------

  sendPing(): void {
    this.sendFrame(this.#context.pingFrame(this.codec), true);
  }

  /** The heartbeat deadline passed: the peer is gone. */
  expire(): void {
    this.#context.logger.debug({ connId: this.id }, 'heartbeat timeout');
    this.#closeReason = 'heartbeat timeout';
    this.#transport.terminate();
  }

  // ---- inbound --------------------------------------------------------------------------------

  /** A frame from the transport. */
  onFrame(frame: Frame): void {
    const context = this.#context;
    this.lastSeen = context.clock.elapsed;
    context.counters.messagesIn++;
    context.counters.bytesIn += frameBytes(frame);
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
    if (this.#admit(message)) this.#handle(message);
  }

  /** False when the message is over its rate limit: the limiter answered (RATE_LIMITED) or dropped it. */
  #admit(message: Message): boolean {
    if (!countsAgainstRateLimit(message)) return true;
    const limiter = (this.#limiter ??= this.#admitted.limiter(this.#transport) ?? null);
    return !limiter || limiter.admit(message, this);
  }

  /** The transport is gone. */
  onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.#closeCode = code;
    this.#queue = undefined;
    this.#limiter?.dispose();
    this.#admitted.release();
    const why = this.#closeReason ?? (reason || describeClose(code));
    this.#context.closed(this, code, why);
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    this.#handlers = undefined;
    closeListeners.callCloseListeners(listeners, why, code, (err) =>
      this.#context.logger.error({ err, connId: this.id }, 'close listener threw'),
    );
  }

  #handle(message: Message): void {
    switch (message.t) {
      case 'res':
      case 'err':
        this.#context.reply(this, message);
        return;
      case 'join':
        this.#holdUntil(this.#context.clientJoin(this, message));
        return;
      case 'leave':
        // A client-initiated leave: no `left` echo.
        if (this.isMember(message.r)) void this.#context.leave(this, message.r);
        return;
      case 'pong':
        return;
      default: {
        // Events, requests and refreshes (inbound-hooks.ts); a promise holds later frames, an error closes.
        const outcome = this.#context.inbound(this, message);
        if (outcome instanceof Promise) this.#holdUntil(outcome);
        else if (outcome) this.#violation(outcome);
      }
    }
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
        if (this.closed) return;
        this.#process(held[i]!);
        // Another join among them: the rest waits for that one.
        if (this.#afterJoin) {
          (this.#afterJoin as Frame[]).unshift(...held.slice(i + 1));
          return;
        }
      }
    });
  }

  /** A bad frame closes the connection; a request with refused content is answered (within the rate limit). */
  #violation(err: ProtocolError): void {
    const id = err.requestId;
    if (id === undefined || this.#admit({ t: 'req', id, e: '' })) refuseFrame(this, err);
  }
}
