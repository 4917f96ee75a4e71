import {
  CloseCode,
  type Codec,
  ErrorCode,
  FATAL_CLOSE_CODES,
  type Frame,
  isReservedEvent,
  type JoinResult,
  MAX_NAME_LENGTH,
  type Position,
  type RoomMessage,
  type ServerMessage,
  TetherError,
  trustingJsonCodec,
} from '@tether/protocol';
import { nanoid } from 'nanoid';
import { type BackoffOptions, backoffDelay, type ResolvedBackoff, resolveBackoff } from './backoff.js';
import { Emitter } from './emitter.js';
import { base64UrlJson, frameSize } from './encoding.js';
import { Outbox } from './outbox.js';
import { type ClientRequestOptions, PendingRequests } from './pending-requests.js';
import type { Persistence, PersistenceStore, StoredState } from './persistence-types.js';
import {
  type MessageMeta,
  metaOf,
  type PresenceEvent,
  type PresenceMember,
  Room,
  type RoomHost,
} from './room.js';
import { RoomCursor } from './room-cursor.js';
import { type ClientState, type ClientStateEvent, nextState } from './state.js';
import type { ClientTransport, TransportFactory, TransportKind } from './transports/transport.js';
import type { EventData, EventMap, EventName, EventReply, UnknownEvents } from './typed-events.js';

/** Options of `new TetherClient(url, options)`. */
export interface TetherClientOptions {
  /** Sent on every connect attempt; the server's `authenticate` gets it. A function is called each time. */
  auth?: unknown | (() => unknown | Promise<unknown>);
  /** Transports to try, in order. Default `['websocket', 'sse']`. */
  transports?: TransportKind[];
  /** Reconnect schedule, or `false` to stay closed after a drop. */
  reconnect?: BackoffOptions | false;
  /** Connect when constructed. Default true; otherwise call `connect()`. */
  autoConnect?: boolean;
  /** Emits kept while offline, sent in order on reconnect. Default 1 000. */
  maxBufferedEmits?: number;
  /** Time one transport gets to open and be welcomed, in ms. Default 5 000. */
  connectTimeout?: number;
  /** Default per-attempt timeout of `request`, in ms. Default 10 000. */
  requestTimeout?: number;
  /** Wire codec; `msgpackCodec` from `@tether/client/msgpack` for binary frames. Default JSON. */
  codec?: Codec;
  /** After WebSocket failed and another transport worked, how long to skip WebSocket, in ms. Default 60 000. */
  upgradeRetryMs?: number;
  /**
   * Keeps room positions (and optionally the session) across reloads, so joining a room again
   * resumes where the last page left it: `persistTo(localStorage)` from `@tether/client/persistence`.
   */
  persistence?: Persistence;
}

/** Options of `client.emit`. */
export interface ClientEmitOptions {
  /** Drop instead of buffering while offline (typing indicators). */
  volatile?: boolean;
}

/** Lifecycle events beside message events. */
type Lifecycle = {
  state: [ClientState];
  error: [TetherError];
  /** A room the server joined this session to could not be recovered after a reconnect. */
  'tether:recovery-failed': [{ room: string }];
  /** Members joining and leaving any room this client is in (`meta.room` names it). */
  'tether:presence': [PresenceEvent, MessageMeta];
};

/** @internal what an entry point (Node, browser) provides. */
export interface ClientEnvironment {
  transports: Partial<Record<TransportKind, TransportFactory>>;
}

interface JoinWaiter {
  room: Room<EventMap>;
  first: boolean;
  resolve?: (room: Room<EventMap>) => void;
  reject?: (err: Error) => void;
}

const ANSWERED_MEMORY = 1_000;
/** Bytes the socket may hold for a volatile emit to be sent rather than dropped. */
const VOLATILE_LIMIT = 16 * 1024;

/**
 * The Tether client: one logical connection that survives drops. It connects when constructed,
 * reconnects with backoff and jitter, buffers emits while offline, retries requests with a
 * stable id, and rejoins rooms resuming from the last offset it saw.
 *
 * @example
 * const client = new TetherClient('http://localhost:3000/tether', { auth: () => ({ token }) });
 * client.on('state', (s) => console.log(s));
 * const room = await client.join('chat:lobby');
 * room.on('message', (msg, meta) => show(msg, meta.offset));
 * const reply = await client.request('chat:send', { text: 'hi' }, { retries: 3 });
 */
export class TetherClientBase<E extends EventMap = UnknownEvents> implements RoomHost {
  readonly url: string;
  #state: ClientState;
  readonly #options: Required<Omit<TetherClientOptions, 'auth' | 'reconnect' | 'codec' | 'persistence'>>;
  readonly #store: PersistenceStore | undefined;
  /** Positions from storage for rooms not joined yet in this page. */
  readonly #storedRooms = new Map<string, Position>();
  readonly #auth: TetherClientOptions['auth'];
  readonly #backoff: ResolvedBackoff | false;
  readonly #codec: Codec;
  readonly #env: ClientEnvironment;
  readonly #events = new Emitter<Record<string, unknown[]>>();
  readonly #outbox: Outbox<Frame>;
  readonly #requests = new PendingRequests();
  readonly #answered = new Map<string, Frame | null>();
  readonly #rooms = new Map<string, Room<EventMap>>();
  readonly #joins = new Map<string, JoinWaiter>();
  /** Rooms the server joined this client to, with where each stands (sent in `hello`). */
  readonly #serverRooms = new Map<string, RoomCursor>();
  #transport: ClientTransport | undefined;
  #transportKind: TransportKind | undefined;
  #generation = 0;
  #attempt = 0;
  #transportIndex = 0;
  #skipWebSocketUntil = 0;
  #serverSpreadMs: number | undefined;
  #session: { sid: string; sk: string } | undefined;
  #connectionId: string | undefined;
  #maxPayload = 1024 * 1024;
  #lastSeen = 0;
  #heartbeatDeadline = 0;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, options: TetherClientOptions, env: ClientEnvironment) {
    this.url = url;
    this.#env = env;
    this.#auth = options.auth;
    this.#codec = options.codec ?? trustingJsonCodec;
    this.#backoff = options.reconnect === false ? false : resolveBackoff(options.reconnect);
    this.#options = {
      transports: options.transports?.length ? options.transports : ['websocket', 'sse'],
      autoConnect: options.autoConnect ?? true,
      maxBufferedEmits: options.maxBufferedEmits ?? 1_000,
      connectTimeout: options.connectTimeout ?? 5_000,
      requestTimeout: options.requestTimeout ?? 10_000,
      upgradeRetryMs: options.upgradeRetryMs ?? 60_000,
    };
    this.#outbox = new Outbox(this.#options.maxBufferedEmits);
    if (options.persistence) {
      this.#store = options.persistence(url);
      const saved = this.#store.load();
      for (const [room, position] of Object.entries(saved.rooms)) this.#storedRooms.set(room, position);
      for (const [room, [epoch, offset]] of Object.entries(saved.serverRooms))
        this.#serverCursor(room).reset(epoch, offset);
      this.#session = saved.session;
    }
    this.#events.onListenerError = (err) => this.#reportError(err);
    this.#state = 'closed';
    if (this.#options.autoConnect) this.connect();
  }

  /** `'connecting' | 'open' | 'reconnecting' | 'closed'`. */
  get state(): ClientState {
    return this.#state;
  }

  /** The session id (`conn.sessionId` on the server), once welcomed. */
  get sessionId(): string | undefined {
    return this.#session?.sid;
  }

  /** The current connection's id (`conn.id` on the server), while open. */
  get connectionId(): string | undefined {
    return this.#connectionId;
  }

  /** The transport in use while open. */
  get transport(): TransportKind | undefined {
    return this.#state === 'open' ? this.#transportKind : undefined;
  }

  /** Listens to a server event (direct or from any room), or to `state`, `error`, `tether:recovery-failed`. */
  on<K extends keyof Lifecycle>(event: K, listener: (...args: Lifecycle[K]) => void): () => void;
  on<K extends EventName<E>>(
    event: K,
    listener: (
      data: EventData<E, K>,
      meta?: MessageMeta,
      // biome-ignore lint/suspicious/noConfusingVoidType: an event listener returns nothing; a request handler returns the reply.
    ) => EventReply<E, K> | Promise<EventReply<E, K>> | void,
  ): () => void;
  on(event: string, listener: (...args: never[]) => unknown): () => void {
    return this.#events.on(event, listener as (...args: unknown[]) => unknown);
  }

  off(event: string, listener?: (...args: never[]) => unknown): void {
    this.#events.off(event, listener as ((...args: unknown[]) => unknown) | undefined);
  }

  /** Opens the connection (only needed with `autoConnect: false`, or to reopen after `close()`). */
  connect(): void {
    if (!this.#transition('connect')) return;
    this.#transportIndex = 0;
    void this.#openTransport();
  }

  /** Sends an event (fire and forget). Buffered while offline unless volatile. False when dropped. */
  emit<K extends EventName<E>>(event: K, data?: EventData<E, K>, options: ClientEmitOptions = {}): boolean {
    this.#assertUsable(event);
    const transport = this.#state === 'open' ? this.#transport : undefined;
    // Volatile: sent now or never; not while offline, not behind a congested socket.
    if (options.volatile && (!transport || (transport.bufferedAmount ?? 0) >= VOLATILE_LIMIT)) return false;
    const frame = this.#codec.encode({ t: 'evt', e: event, d: data });
    if (transport) return this.#sendChecked(frame, event);
    if (this.#outbox.push(frame)) return true;
    this.#reportError(
      new TetherError(
        ErrorCode.BufferFull,
        `offline buffer full (${this.#options.maxBufferedEmits}); "${event}" dropped`,
      ),
    );
    return false;
  }

  /**
   * Sends a request and resolves with the handler's reply. The same id is used on every retry
   * and across reconnects, so the server runs the handler once. Rejects with `TetherError`:
   * the handler's error at once (never retried), TIMEOUT after the last attempt, CLOSED on `close()`.
   */
  request<K extends EventName<E>>(
    event: K,
    data?: EventData<E, K>,
    options: ClientRequestOptions = {},
  ): Promise<EventReply<E, K>> {
    try {
      this.#assertUsable(event);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#request(event, data, options) as Promise<EventReply<E, K>>;
  }

  /** Joins a room (the server's `authorizeJoin` decides). Rejects with JOIN_REFUSED (or another code) if refused. */
  join<R extends EventMap = E>(room: string): Promise<Room<R>> {
    if (this.#state === 'closed')
      return Promise.reject(new TetherError(ErrorCode.Closed, 'client is closed'));
    // The wire carries 1-256 characters; sending more would get the connection closed, and the
    // rejoin after the reconnect would do it again.
    if (typeof room !== 'string' || room.length === 0 || room.length > MAX_NAME_LENGTH) {
      return Promise.reject(
        new TetherError(ErrorCode.InvalidRoom, `room names are 1-${MAX_NAME_LENGTH} characters`),
      );
    }
    const existing = this.#rooms.get(room);
    if (existing && existing.state !== 'left') return Promise.resolve(existing as unknown as Room<R>);
    const handle = new Room<EventMap>(room, this);
    const stored = this.#storedRooms.get(room);
    if (stored) handle.resumeFrom(stored[0], stored[1]);
    this.#rooms.set(room, handle);
    return new Promise((resolve, reject) => {
      this.#sendJoin(handle, {
        room: handle,
        first: true,
        resolve: resolve as (r: Room<EventMap>) => void,
        reject,
      });
    });
  }

  /** Closes for good: state `closed`, every timer cleared, pending requests rejected with CLOSED. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#generation++;
    this.#clearTimers();
    this.#transport?.close(CloseCode.Normal, 'client closed');
    this.#transport = undefined;
    this.#connectionId = undefined;
    const closed = new TetherError(ErrorCode.Closed, 'client closed');
    this.#requests.rejectAll(closed);
    for (const waiter of this.#joins.values()) waiter.reject?.(closed);
    this.#joins.clear();
    // Save positions before the handles go: a later page resumes from them.
    this.#store?.dispose();
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    for (const room of rooms) room.leave();
    this.#serverRooms.clear();
    this.#outbox.clear();
    this.#transition('closed');
  }

  // ---- RoomHost ------------------------------------------------------------------------------

  /** @internal */
  leaveRoom(room: Room<EventMap>): void {
    if (this.#rooms.get(room.name) !== room) return;
    this.#rooms.delete(room.name);
    this.#storedRooms.delete(room.name);
    this.#store?.schedule(this.#snapshot);
    if (this.#state === 'open') this.#send(this.#codec.encode({ t: 'leave', r: room.name }));
  }

  /** @internal */
  presenceOf(room: string): Promise<PresenceMember[]> {
    return this.#request('tether:presence', { room }, {}) as Promise<PresenceMember[]>;
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  #transition(event: ClientStateEvent): boolean {
    const next = nextState(this.#state, event);
    if (!next) return false;
    if (next !== this.#state) {
      this.#state = next;
      this.#events.emit('state', next);
    }
    return true;
  }

  #pickTransport(index = this.#transportIndex): TransportKind | undefined {
    const available = this.#options.transports.filter((kind) => this.#env.transports[kind]);
    const usable =
      Date.now() < this.#skipWebSocketUntil && available.length > 1
        ? available.filter((k) => k !== 'websocket')
        : available;
    return usable[index];
  }

  async #openTransport(): Promise<void> {
    const generation = ++this.#generation;
    const kind = this.#pickTransport();
    if (!kind) {
      this.#shutDown(new TetherError(ErrorCode.Closed, 'no usable transport in this environment'));
      return;
    }
    let auth: string | undefined;
    try {
      const value = typeof this.#auth === 'function' ? await (this.#auth as () => unknown)() : this.#auth;
      auth = value === undefined ? undefined : base64UrlJson(value);
    } catch (err) {
      this.#reportError(new TetherError(ErrorCode.Unauthorized, `auth() failed: ${(err as Error).message}`));
      if (generation === this.#generation) this.#scheduleReconnect();
      return;
    }
    if (generation !== this.#generation) return;
    const current = () => generation === this.#generation;
    this.#transportKind = kind;
    this.#transport = this.#env.transports[kind]!({
      url: this.url,
      codec: this.#codec,
      auth,
      events: {
        onOpen: () => current() && this.#onTransportOpen(),
        onFrame: (frame) => current() && this.#onFrame(frame),
        onClose: (code, reason, status) => current() && this.#onTransportClose(code, reason, status),
      },
    });
    this.#connectTimer = setTimeout(() => {
      if (!current()) return;
      this.#transport?.close(CloseCode.Normal, 'connect timeout');
      this.#onTransportClose(CloseCode.Abnormal, 'connect timeout');
    }, this.#options.connectTimeout);
  }

  #onTransportOpen(): void {
    const rooms = this.#serverRooms.size > 0 ? this.#serverPositions() : undefined;
    this.#send(this.#codec.encode({ t: 'hello', sid: this.#session?.sid, sk: this.#session?.sk, rooms }));
  }

  #onTransportClose(code: number, reason: string, status?: number): void {
    const wasOpen = this.#state === 'open';
    const kind = this.#transportKind;
    this.#generation++;
    this.#transport = undefined;
    this.#connectionId = undefined;
    this.#clearTimers();
    for (const room of this.#rooms.values()) room.suspend();
    // Joins in flight get no answer now; the rejoin after reconnect answers them.
    for (const [id, waiter] of this.#joins) if (!waiter.resolve) this.#joins.delete(id);
    if (FATAL_CLOSE_CODES.has(code) || status === 401 || status === 403) {
      const errorCode =
        code === CloseCode.SessionReplaced
          ? ErrorCode.Closed
          : status === 403 || code === CloseCode.Forbidden
            ? ErrorCode.Forbidden
            : ErrorCode.Unauthorized;
      this.#shutDown(new TetherError(errorCode, reason || `refused (${status ?? code})`));
      return;
    }
    if (!wasOpen && kind === 'websocket' && this.#pickTransport(this.#transportIndex + 1) !== undefined) {
      // WebSocket did not get through: try the next transport now, not after a backoff.
      this.#transportIndex++;
      void this.#openTransport();
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#backoff === false || this.#attempt >= this.#backoff.maxAttempts) {
      this.#shutDown(
        new TetherError(
          ErrorCode.Closed,
          this.#backoff === false ? 'connection lost' : 'gave up reconnecting',
        ),
      );
      return;
    }
    this.#transition('dropped');
    const hint = this.#serverSpreadMs;
    this.#serverSpreadMs = undefined;
    // A server that is shutting down names a spread: come back within it, at a random moment.
    const delay =
      hint !== undefined ? Math.round(Math.random() * hint) : backoffDelay(this.#attempt, this.#backoff);
    this.#attempt++;
    this.#transportIndex = 0;
    this.#reconnectTimer = setTimeout(() => void this.#openTransport(), delay);
  }

  #shutDown(reason: TetherError): void {
    this.#reportError(reason);
    this.close();
  }

  #onWelcome(message: Extract<ServerMessage, { t: 'welcome' }>): void {
    clearTimeout(this.#connectTimer);
    if (this.#transportKind !== 'websocket' && this.#options.transports[0] === 'websocket') {
      this.#skipWebSocketUntil = Date.now() + this.#options.upgradeRetryMs;
    } else if (this.#transportKind === 'websocket') {
      this.#skipWebSocketUntil = 0;
    }
    this.#session = { sid: message.sid, sk: message.sk };
    this.#store?.schedule(this.#snapshot);
    this.#connectionId = message.cid;
    this.#maxPayload = message.mp;
    this.#attempt = 0;
    this.#heartbeatDeadline = message.hb[0] + message.hb[1];
    this.#armHeartbeat(this.#heartbeatDeadline);
    this.#transition('opened');
    for (const room of this.#rooms.values())
      if (room.state === 'rejoining') this.#sendJoin(room, { room, first: false });
    for (const [id, waiter] of this.#joins) if (waiter.resolve) this.#sendJoinFrame(id, waiter.room);
    for (const frame of this.#outbox.drain()) this.#send(frame);
    this.#requests.resendAll((frame) => this.#send(frame));
  }

  #armHeartbeat(delay: number): void {
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => {
      const silentFor = Date.now() - this.#lastSeen;
      if (silentFor < this.#heartbeatDeadline) {
        this.#armHeartbeat(this.#heartbeatDeadline - silentFor);
        return;
      }
      // The server went silent (half-open TCP, frozen node): drop and reconnect.
      this.#drop(CloseCode.HeartbeatTimeout, 'server heartbeat missed');
    }, delay);
  }

  #clearTimers(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#heartbeatTimer);
  }

  // ---- frames ----------------------------------------------------------------------------

  #onFrame(frame: Frame | ArrayBuffer): void {
    this.#lastSeen = Date.now();
    let message: ServerMessage;
    try {
      message = this.#codec.decode(frame) as ServerMessage;
    } catch (err) {
      this.#reportError(err as TetherError);
      this.#drop(CloseCode.BadMessage, 'bad frame from server');
      return;
    }
    switch (message.t) {
      case 'welcome':
        this.#onWelcome(message);
        return;
      case 'evt':
        this.#events.emit(message.e, message.d);
        return;
      case 'msg':
        this.#onRoomMessage(message);
        return;
      case 'req':
        void this.#answerServerRequest(message.id, message.e, message.d);
        return;
      case 'res':
        this.#onReply(message.id, { ok: true, data: message.d });
        return;
      case 'err':
        this.#onReply(message.id, { ok: false, code: message.c, message: message.m });
        return;
      case 'joined':
        this.#onServerJoined(message.r, message);
        return;
      case 'left':
        this.#serverRooms.delete(message.r);
        return;
      case 'ping':
        this.#send(this.#codec.encode({ t: 'pong' }));
        return;
      case 'bye':
        if (message.rt !== undefined) this.#serverSpreadMs = message.rt;
        return;
    }
  }

  #onRoomMessage(message: RoomMessage): void {
    this.#store?.schedule(this.#snapshot);
    const room = this.#rooms.get(message.r);
    let epoch: string;
    if (room) {
      if (!room.accept(message)) return;
      epoch = room.epoch;
    } else if (message.v) {
      // Volatile messages never name an epoch: they take no position.
      epoch = this.#serverRooms.get(message.r)?.epoch ?? '';
    } else {
      // A room the server joined us to: track its position for recovery on the next connection.
      const cursor = this.#serverCursor(message.r);
      if (!cursor.admit(message)) return;
      epoch = cursor.epoch;
    }
    this.#events.emit(message.e, message.d, metaOf(message, epoch));
  }

  #serverCursor(room: string): RoomCursor {
    let cursor = this.#serverRooms.get(room);
    if (!cursor) this.#serverRooms.set(room, (cursor = new RoomCursor()));
    return cursor;
  }

  #serverPositions(): Record<string, Position> {
    const positions: Record<string, Position> = {};
    for (const [room, cursor] of this.#serverRooms) positions[room] = [cursor.epoch, cursor.offset];
    return positions;
  }

  readonly #snapshot = (): StoredState => {
    const rooms: Record<string, Position> = Object.fromEntries(this.#storedRooms);
    for (const room of this.#rooms.values()) {
      const { epoch, offset } = room.position;
      if (epoch) rooms[room.name] = [epoch, offset];
    }
    return { rooms, serverRooms: this.#serverPositions(), session: this.#session };
  };

  #onServerJoined(room: string, result: JoinResult): void {
    this.#store?.schedule(this.#snapshot);
    if (result.rec === 1) return; // missed messages follow; the known position stays valid
    if (result.rec === 0) this.#events.emit('tether:recovery-failed', { room });
    this.#serverCursor(room).reset(result.ep, result.off);
  }

  #onReply(
    id: string,
    outcome: { ok: true; data: unknown } | { ok: false; code: string; message: string },
  ): void {
    const join = this.#joins.get(id);
    if (join) {
      this.#joins.delete(id);
      if (outcome.ok) {
        join.room.joined(outcome.data as JoinResult, join.first);
        join.resolve?.(join.room);
      } else {
        if (this.#rooms.get(join.room.name) === join.room) this.#rooms.delete(join.room.name);
        join.reject?.(new TetherError(outcome.code, outcome.message));
        if (!join.reject)
          this.#reportError(
            new TetherError(outcome.code, `rejoining "${join.room.name}" failed: ${outcome.message}`),
          );
      }
      return;
    }
    this.#requests.settle(id, outcome);
  }

  async #answerServerRequest(id: string, event: string, data: unknown): Promise<void> {
    if (this.#answered.has(id)) {
      // A retry of a request already answered (or being answered): ack again, never run twice.
      const reply = this.#answered.get(id);
      if (reply) this.#send(reply);
      return;
    }
    this.#answered.set(id, null);
    if (this.#answered.size > ANSWERED_MEMORY)
      this.#answered.delete(this.#answered.keys().next().value as string);
    const handler = this.#events.first(event);
    let reply: Frame;
    if (!handler) {
      reply = this.#codec.encode({ t: 'err', id, c: ErrorCode.NoHandler, m: `no handler for "${event}"` });
    } else {
      try {
        reply = this.#codec.encode({ t: 'res', id, d: await handler(data) });
      } catch (err) {
        const code = err instanceof TetherError ? err.code : ErrorCode.HandlerError;
        reply = this.#codec.encode({
          t: 'err',
          id,
          c: code,
          m: err instanceof Error ? err.message : String(err),
        });
      }
    }
    if (this.#answered.has(id)) this.#answered.set(id, reply);
    this.#send(reply);
  }

  // ---- sending -----------------------------------------------------------------------------

  #request(event: string, data: unknown, options: ClientRequestOptions): Promise<unknown> {
    if (this.#state === 'closed')
      return Promise.reject(new TetherError(ErrorCode.Closed, 'client is closed'));
    const id = nanoid();
    const answered = this.#requests.takeAnswered();
    const frame = this.#codec.encode(
      answered ? { t: 'req', id, e: event, d: data, ak: answered } : { t: 'req', id, e: event, d: data },
    );
    if (this.#tooLarge(frame)) {
      return Promise.reject(
        new TetherError(
          ErrorCode.PayloadTooLarge,
          `"${event}" is larger than the server's limit of ${this.#maxPayload} bytes`,
        ),
      );
    }
    const resolved = {
      timeout: options.timeout ?? this.#options.requestTimeout,
      retries: options.retries ?? 0,
    };
    const resend = () => this.#codec.encode({ t: 'req', id, e: event, d: data, rt: 1 });
    return this.#requests.add(id, frame, resend, event, resolved, (f) => this.#send(f));
  }

  #sendJoin(room: Room<EventMap>, waiter: JoinWaiter): void {
    const id = nanoid();
    this.#joins.set(id, waiter);
    if (this.#state === 'open') this.#sendJoinFrame(id, room);
  }

  #sendJoinFrame(id: string, room: Room<EventMap>): void {
    const { epoch, offset } = room.position;
    this.#send(
      this.#codec.encode(
        epoch ? { t: 'join', id, r: room.name, ep: epoch, off: offset } : { t: 'join', id, r: room.name },
      ),
    );
  }

  #sendChecked(frame: Frame, event: string): boolean {
    if (this.#tooLarge(frame)) {
      this.#reportError(
        new TetherError(
          ErrorCode.PayloadTooLarge,
          `"${event}" is larger than the server's limit of ${this.#maxPayload} bytes`,
        ),
      );
      return false;
    }
    this.#send(frame);
    return true;
  }

  /** Ends the current transport from this side and goes on as if it had dropped. */
  #drop(code: number, reason: string): void {
    this.#transport?.close(code, reason);
    this.#onTransportClose(code, reason);
  }

  /** UTF-8 takes at most 3 bytes per UTF-16 unit: most frames need no counting at all. */

  #tooLarge(frame: Frame): boolean {
    if (typeof frame === 'string' && frame.length * 3 <= this.#maxPayload) return false;
    return frameSize(frame) > this.#maxPayload;
  }

  #send(frame: Frame): void {
    if (this.#state === 'open' || this.#transport) this.#transport?.send(frame);
  }

  #assertUsable(event: string): void {
    if (isReservedEvent(event))
      throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
  }

  #reportError(err: unknown): void {
    const error =
      err instanceof TetherError
        ? err
        : new TetherError(ErrorCode.Internal, String((err as Error)?.message ?? err));
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error);
  }
}
