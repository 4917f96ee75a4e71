import {
  CloseCode,
  type Codec,
  ErrorCode,
  type Frame,
  type ServerMessage,
  TetherError,
  trustingJsonCodec,
} from '@tether/protocol';
import { AuthRefresher, readCredentials } from './auth-refresh.js';
import { backoffDelay, type ResolvedBackoff, resolveBackoff } from './backoff.js';
import { assertUsable, type EmitArgs, type RequestArgs } from './client-args.js';
import {
  type ClientEmitOptions,
  type ClientEnvironment,
  type DisconnectReason,
  type Lifecycle,
  type ResolvedOptions,
  resolveOptions,
  type TetherClientOptions,
  usableTransports,
  webSocketSkip,
} from './client-options.js';
import { afterClose } from './close-policy.js';
import { asTetherError, Emitter, rethrowLater } from './emitter.js';
import { exceeds, tooLargeError } from './encoding.js';
import type { Handoff } from './handoff.js';
import { ClientNotifications, type NotificationMeta } from './notifications.js';
import { Outbox } from './outbox.js';
import { type ClientRequestOptions, PendingRequests } from './pending-requests.js';
import type { PersistenceStore } from './persistence-types.js';
import { RateLimitNotice } from './rate-limit-notice.js';
import { RequestAnswers } from './request-answers.js';
import type { MessageMeta, Room } from './room.js';
import { type Outcome, RoomRegistry } from './room-registry.js';
import { SilenceWatch } from './silence-watch.js';
import { type ClientState, type ClientStateEvent, nextState } from './state.js';
import type { ClientTransport, ClientTransportEvents, TransportKind } from './transports/transport.js';
import type * as T from './typed-events.js';
import type { EventData, EventMap, EventReply, UnknownEvents } from './typed-events.js';

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
export class TetherClientBase<E extends EventMap = UnknownEvents> {
  readonly url: string;
  #state: ClientState = 'closed';
  readonly #options: ResolvedOptions;
  readonly #store: PersistenceStore | undefined;
  readonly #auth: TetherClientOptions['auth'];
  readonly #backoff: ResolvedBackoff | false;
  readonly #codec: Codec;
  readonly #env: ClientEnvironment;
  readonly #events = new Emitter<Record<string, unknown[]>>();
  readonly #outbox: Outbox<Frame>;
  readonly #requests = new PendingRequests();
  readonly #sendFrame = (frame: Frame): void => this.#send(frame); // one for every request and part
  readonly #notifications = new ClientNotifications(this.#events, (e, d) => this.#request(e, d, {}));
  readonly #answers: RequestAnswers;
  readonly #rooms: RoomRegistry;
  readonly #refresher: AuthRefresher;
  /** What `auth` produced for the transport being opened: sent in its hello, never in a URL. */
  #credentials: unknown;
  /** Make before break when a server drains (`bye` with `mv: 1`), made on the first move. */
  #handoff: Handoff | undefined;
  /** The server went silent (half-open TCP, frozen node): drop and reconnect. */
  readonly #silence = new SilenceWatch(() =>
    this.#drop(CloseCode.HeartbeatTimeout, 'server heartbeat missed'),
  );
  readonly #limit = new RateLimitNotice(this.#events, (err) => this.#reportError(err));
  #transport: ClientTransport | undefined;
  #transportKind: TransportKind | undefined;
  /** Bumped whenever a transport is dropped or replaced: events of older transports are ignored. */
  #generation = 0;
  #attempt = 0;
  #transportIndex = 0;
  #skipWebSocketUntil = 0;
  #serverSpreadMs: number | undefined;
  #session: { sid: string; sk: string } | undefined;
  #connectionId: string | undefined;
  #maxPayload = 1024 * 1024;
  /** Why the last transport ended, until the next welcome: what a disconnect reports. */
  #cause: { code: number; reason: string } | undefined;
  #lastDisconnect: DisconnectReason | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #page: ReturnType<NonNullable<ClientEnvironment['page']>> | undefined;

  constructor(url: string, options: TetherClientOptions, env: ClientEnvironment) {
    this.url = url;
    this.#env = env;
    this.#auth = options.auth;
    this.#codec = options.codec ?? trustingJsonCodec;
    this.#backoff = options.reconnect === false ? false : resolveBackoff(options.reconnect);
    this.#options = resolveOptions(options);
    this.#outbox = new Outbox(this.#options.maxBufferedEmits);
    this.#answers = new RequestAnswers(this.#codec, this.#events, this.#sendFrame);
    this.#store = this.#notifications.persistWith(options.persistence?.(url));
    const saved = this.#store?.load();
    this.#session = saved?.session;
    this.#rooms = new RoomRegistry(
      {
        codec: this.#codec,
        isOpen: () => this.#state === 'open',
        send: this.#sendFrame,
        request: (event, data) => this.#request(event, data, {}),
        session: () => this.#session,
      },
      this.#events,
      this.#store,
      saved,
    );
    this.#refresher = new AuthRefresher(options.auth, {
      isOpen: () => this.#state === 'open',
      sendAuth: (id, a) => this.#send(this.#codec.encode({ t: 'auth', id, a })),
    });
    // A throwing `error` listener is not told of its own throw (that would recurse): it goes to
    // the console through a microtask instead.
    this.#events.onListenerError = (err, event) =>
      event === 'error' ? rethrowLater(err) : this.#reportError(err);
    this.#page = env.page?.(this, this.#silence); // browsers: online, visibility, freeze, bfcache
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

  /** Why the client last left `open`: the close code and reason, and whether it reconnects. */
  get lastDisconnect(): DisconnectReason | undefined {
    return this.#lastDisconnect;
  }

  /** The transport in use while open. */
  get transport(): TransportKind | undefined {
    return this.#state === 'open' ? this.#transportKind : undefined;
  }

  /** Listens to a server event (direct or from any room), or to `state`, `error`, `tether:recovery-failed`. */
  on<K extends keyof Lifecycle>(event: K, listener: (...args: Lifecycle[K]) => void): () => void;
  on<K extends T.ServerEventName<E>>(
    event: K,
    listener: (
      data: EventData<E, K>,
      meta?: MessageMeta | NotificationMeta,
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
  emit<K extends T.ClientEventName<E>>(event: K, ...args: EmitArgs<E, K>): boolean {
    assertUsable(event);
    const [data, options = {}] = args as [unknown, ClientEmitOptions?];
    const transport = this.#state === 'open' ? this.#transport : undefined;
    // Volatile: sent now or never; not while offline, not behind a congested socket.
    if (options.volatile && (!transport || (transport.bufferedAmount ?? 0) >= VOLATILE_LIMIT)) return false;
    if (transport && this.#limit.active) return false; // the server refuses events now: not sent
    const frame = this.#codec.encode({ t: 'evt', e: event, d: data });
    if (transport) {
      if (exceeds(frame, this.#maxPayload)) {
        this.#reportError(tooLargeError(event, this.#maxPayload));
        return false;
      }
      this.#send(frame);
      return true;
    }
    if (this.#outbox.push(frame)) return true;
    const full = `offline buffer full (${this.#options.maxBufferedEmits}); "${event}" dropped`;
    this.#reportError(new TetherError(ErrorCode.BufferFull, full));
    return false;
  }

  /**
   * Sends a request and resolves with the handler's reply. The same id is used on every retry
   * and across reconnects, so the server runs the handler once. Rejects with `TetherError`:
   * the handler's error at once (never retried), TIMEOUT after the last attempt, CLOSED on `close()`.
   */
  request<K extends T.ClientEventName<E>>(event: K, ...args: RequestArgs<E, K>): Promise<EventReply<E, K>> {
    // A bad name or a payload the codec refuses (bytes on JSON) rejects like any other failure.
    try {
      assertUsable(event);
      return this.#request(event, args[0], args[1] ?? {}) as Promise<EventReply<E, K>>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Joins a room (the server's `authorizeJoin` decides). Rejects with JOIN_REFUSED (or another code) if refused. */
  join<R extends EventMap = E>(room: string): Promise<Room<R>> {
    if (this.#state === 'closed')
      return Promise.reject(new TetherError(ErrorCode.Closed, 'client is closed'));
    return this.#rooms.join(room) as unknown as Promise<Room<R>>;
  }

  /** Sends fresh `auth` on the open connection: resolves once accepted, rejects if refused or offline. */
  refreshAuth(): Promise<void> {
    return this.#refresher.refresh();
  }

  /** Closes for good: state `closed`, every timer cleared, pending requests rejected with CLOSED. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#generation++;
    this.#clearTimers();
    this.#handoff?.cancel();
    this.#transport?.close(CloseCode.Normal, 'client closed');
    this.#transport = undefined;
    this.#connectionId = undefined;
    const closed = new TetherError(ErrorCode.Closed, 'client closed');
    this.#requests.rejectAll(closed);
    this.#rooms.close(closed);
    this.#outbox.clear();
    this.#refresher.dropAll('client closed');
    this.#transition('closed');
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  /** The one writer of `#state`: every change goes through the table in state.ts. */
  #transition(event: ClientStateEvent): boolean {
    const next = nextState(this.#state, event);
    if (!next) return false;
    if (next === this.#state) return true;
    const left = this.#state === 'open';
    if (left) {
      // Set before `state` is emitted, so state listeners can read why.
      const { code, reason } = this.#cause ?? { code: CloseCode.Normal, reason: 'client closed' };
      this.#lastDisconnect = { code, reason, willReconnect: next === 'reconnecting' };
    }
    this.#state = next;
    this.#events.emit('state', next);
    if (left) this.#events.emit('tether:disconnect', this.#lastDisconnect);
    return true;
  }

  #pickTransport(index = this.#transportIndex): TransportKind | undefined {
    const skipWebSocket = Date.now() < this.#skipWebSocketUntil;
    return usableTransports(this.#options.transports, this.#env, skipWebSocket)[index];
  }

  async #openTransport(): Promise<void> {
    const generation = ++this.#generation;
    const kind = this.#pickTransport();
    if (!kind) {
      this.#shutDown(new TetherError(ErrorCode.Closed, 'no usable transport in this environment'));
      return;
    }
    try {
      this.#credentials = await readCredentials(this.#auth);
    } catch (err) {
      this.#reportError(err);
      if (generation === this.#generation) this.#scheduleReconnect();
      return;
    }
    if (generation !== this.#generation) return;
    this.#transportKind = kind;
    const events = this.#eventsFor(generation);
    const authInHello = this.#auth !== undefined;
    this.#transport = this.#env.transports[kind]!({ url: this.url, codec: this.#codec, authInHello, events });
    this.#connectTimer = setTimeout(() => {
      if (generation !== this.#generation) return;
      this.#transport?.close(CloseCode.Normal, 'connect timeout');
      this.#onTransportClose(CloseCode.Abnormal, 'connect timeout');
    }, this.#options.connectTimeout);
  }

  /** Where a transport's events go while it is the client's current one (`generation`). */
  #eventsFor(generation: number): ClientTransportEvents {
    const current = () => generation === this.#generation;
    return {
      onOpen: () => current() && this.#send(this.#hello(this.#credentials)),
      onFrame: (frame) => current() && this.#onFrame(frame),
      onClose: (code, reason, status) => current() && this.#onTransportClose(code, reason, status),
    };
  }

  #hello(a: unknown): Frame {
    const rooms = this.#rooms.serverPositions();
    return this.#codec.encode({ t: 'hello', sid: this.#session?.sid, sk: this.#session?.sk, rooms, a });
  }

  /** A server drains: move now (make before break). The code loads on the first move, off the core bundle. */
  async #move(): Promise<void> {
    const { Handoff } = await import('./handoff.js');
    const credentials = this.#auth === undefined ? undefined : () => readCredentials(this.#auth);
    const settings = { url: this.url, codec: this.#codec, credentials, ...this.#options };
    this.#handoff ??= new Handoff(this.#env, settings, {
      kind: () => this.#transportKind,
      hello: (a) => this.#hello(a),
      connectionId: () => this.#connectionId,
      promote: (transport, kind) => this.#promote(transport, kind),
    });
    this.#handoff.start();
  }

  /** A move's next connection was welcomed: it replaces the current one, which closes (1001). */
  #promote(transport: ClientTransport, kind: TransportKind): ClientTransportEvents {
    this.#transport?.close(CloseCode.GoingAway, 'moved to another node');
    this.#clearTimers();
    this.#rooms.suspend();
    this.#refresher.dropAll('connection moved');
    this.#transport = transport;
    this.#transportKind = kind;
    return this.#eventsFor(++this.#generation);
  }

  #onTransportClose(code: number, reason: string, status?: number): void {
    const wasOpen = this.#state === 'open';
    const kind = this.#transportKind;
    this.#cause = { code, reason };
    this.#generation++;
    this.#transport = undefined;
    this.#connectionId = undefined;
    this.#clearTimers();
    this.#rooms.suspend();
    this.#refresher.dropAll('connection closed');
    const next = afterClose(code, reason, status, wasOpen);
    if (next.stop) {
      this.#shutDown(next.stop);
      return;
    }
    if (next.forgetSession) {
      this.#session = undefined;
      this.#rooms.persist();
    }
    if (next.report) this.#reportError(next.report);
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
      const why = this.#backoff === false ? 'connection lost' : 'gave up reconnecting';
      this.#shutDown(new TetherError(ErrorCode.Closed, why));
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
    this.#reconnectTimer = (this.#page?.wait ?? setTimeout)(() => void this.#openTransport(), delay);
  }

  #shutDown(reason: TetherError): void {
    this.#reportError(reason);
    this.close();
  }

  #onWelcome(message: Extract<ServerMessage, { t: 'welcome' }>): void {
    clearTimeout(this.#connectTimer);
    this.#skipWebSocketUntil = webSocketSkip(this.#transportKind, this.#options, this.#skipWebSocketUntil);
    this.#cause = undefined;
    this.#session = { sid: message.sid, sk: message.sk };
    this.#rooms.persist();
    this.#connectionId = message.cid;
    this.#maxPayload = message.mp;
    this.#attempt = 0;
    this.#silence.start(message.hb[0] + message.hb[1]);
    this.#transition('opened');
    this.#rooms.resume();
    for (const frame of this.#outbox.drain()) this.#send(frame);
    this.#requests.resendAll((frame) => this.#send(frame));
  }

  #clearTimers(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#reconnectTimer);
    this.#silence.stop();
  }

  #onFrame(frame: Frame | ArrayBuffer): void {
    this.#silence.seen();
    let message: ServerMessage;
    try {
      message = this.#codec.decode(frame) as ServerMessage;
    } catch (err) {
      this.#reportError(err as TetherError);
      this.#drop(CloseCode.BadMessage, 'bad frame from server');
      return;
    }
    switch (message.t) {
      case 'msg':
        this.#rooms.onMessage(message);
        return;
      case 'welcome':
        this.#onWelcome(message);
        return;
      case 'evt':
        this.#notifications.onEvent(message);
        return;
      case 'req':
        void this.#answers.answer(message.id, message.e, message.d);
        return;
      case 'res':
        this.#onReply(message.id, { ok: true, data: message.d });
        return;
      case 'err':
        this.#onReply(message.id, { ok: false, code: message.c, message: message.m });
        return;
      case 'joined':
        this.#rooms.onJoined(message.r, message);
        return;
      case 'left':
        this.#rooms.onLeft(message.r, message.c);
        return;
      case 'reauth':
        this.#refresher.onReauth();
        return;
      case 'rej':
        this.#reportError(new TetherError(message.c, `${message.e}: ${message.m}`));
        return;
      case 'gap':
        this.#rooms.onGap(message.r);
        return;
      case 'ping':
        this.#send(this.#codec.encode({ t: 'pong' }));
        return;
      case 'bye':
        if (message.rt !== undefined) this.#serverSpreadMs = message.rt;
        if (message.mv === 1 && this.#backoff !== false) void this.#move();
        return;
    }
  }

  #onReply(id: string, outcome: Outcome): void {
    // Ids are random, distinct across the three: the app's requests (most replies) are looked up first.
    if (!this.#requests.settle(id, outcome) && !this.#rooms.settle(id, outcome))
      this.#refresher.settle(id, outcome);
  }

  #request(event: string, data: unknown, options: ClientRequestOptions): Promise<unknown> {
    if (this.#state === 'closed')
      return Promise.reject(new TetherError(ErrorCode.Closed, 'client is closed'));
    const { requestTimeout, traceContext } = this.#options;
    const resolved = { timeout: options.timeout ?? requestTimeout, retries: options.retries ?? 0 };
    const send = this.#sendFrame;
    return this.#requests.start(this.#codec, this.#maxPayload, event, data, traceContext(), resolved, send);
  }

  /** Ends the current transport from this side and goes on as if it had dropped. */
  #drop(code: number, reason: string): void {
    this.#transport?.close(code, reason);
    this.#onTransportClose(code, reason);
  }

  #send(frame: Frame): void {
    if (this.#state === 'open' || this.#transport) this.#transport?.send(frame);
  }

  #reportError(err: unknown): void {
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', asTetherError(err));
  }
}
