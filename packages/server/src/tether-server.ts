import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  type Codec,
  ErrorCode,
  type ErrorReplyMessage,
  type Frame,
  isReservedEvent,
  type JoinMessage,
  type JoinResult,
  jsonCodec,
  negotiate,
  type Position,
  PRESENCE_EVENT,
  type ReplyMessage,
  type RequestMessage,
  TetherError,
} from '@tether/protocol';
import { WebSocketServer, type Server as WsServer } from 'ws';
import { BroadcastOperator, type BroadcastOptions, publishBroadcast } from './broadcast.js';
import type { Bus, BusLink, Delivery, PresenceMember, PublishResult, RoomPosition } from './bus.js';
import { busOutcomeStore } from './bus-outcome-store.js';
import { Connection, type Handshake, type RequestOptions, roomMessage } from './connection.js';
import type { ConnectionHost } from './connection-host.js';
import { type CoarseClock, HeartbeatSweep } from './heartbeat.js';
import { HelloGate } from './hello-gate.js';
import {
  attachToServer,
  decodeAuthParam,
  handshakeOf,
  pathnameOf,
  refuseRequest,
  refuseUpgrade,
} from './http-endpoint.js';
import { Admission } from './limits/admission.js';
import type { ResolvedLimits } from './limits/limit-options.js';
import { MemoryBus } from './memory-bus.js';
import { Metrics, type MetricsSnapshot } from './metrics.js';
import { type ResolvedOptions, resolveOptions, type TetherServerOptions } from './options.js';
import type { Outcome } from './outcome-store.js';
import { OutgoingRequests, type UndeliveredMessage } from './outgoing-requests.js';
import { PresenceTracker } from './presence.js';
import { RequestDedup } from './request-dedup.js';
import { RoomIndex } from './room-index.js';
import { validateRoomName } from './room-name.js';
import { SessionStore } from './sessions.js';
import { SseEndpoint } from './transports/sse-endpoint.js';
import type { ServerTransport } from './transports/transport.js';
import { deflateOptions, TransportSocket, WebSocketTransport } from './transports/websocket.js';
import { WriteBatcher } from './transports/write-batcher.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

// biome-ignore lint/suspicious/noExplicitAny: internal plumbing serves connections of any event map and data.
type AnyConnection = Connection<any, any>;

/** Events of `TetherServer`. */
export interface TetherServerEvents<E extends EventMap, Data> {
  connection: (conn: Connection<E, Data>) => void;
  /** A server-to-client request was given up: the app can fall back (push notification, email). */
  undelivered: (message: UndeliveredMessage) => void;
  /** The bus lost or regained its backing store. */
  'bus:status': (status: 'up' | 'down') => void;
}

/** Options of `tether.close()`. */
export interface CloseOptions {
  /** Time in-flight requests get to finish before connections close, in ms. Default 0. */
  drainMs?: number;
}

/** The built-in request behind `room.presence()` on the client. */
const PRESENCE_REQUEST = 'tether:presence';

/** Most messages one recovery replays; past it the room reports that recovery failed. */
const RECOVERY_LIMIT = 1_000;

/**
 * Real-time endpoint attached to a Node http/https server: WebSocket connections, rooms, acks,
 * heartbeats, history with recovery, on one node or many (through the `bus`).
 *
 * @example
 * const tether = new TetherServer({ server: http, authorizeJoin: (conn, room) => room === 'lobby' });
 * tether.on('connection', (conn) => conn.on('ping', () => 'pong'));
 * await tether.to('lobby').emit('news', { text: 'hello' });
 */
export class TetherServer<E extends EventMap = UnknownEvents, Data = unknown> implements ConnectionHost {
  /** This node's id on the bus. */
  readonly nodeId = randomBytes(6).toString('base64url');
  readonly options: ResolvedOptions<E, Data>;
  /** @internal hot-path counters; `metrics()` is the public snapshot. */
  readonly counters = new Metrics();
  readonly #bus: Bus;
  readonly #ownsBus: boolean;
  readonly #link: Promise<BusLink>;
  readonly #wss: WsServer<typeof TransportSocket>;
  readonly #codecs: readonly Codec[];
  readonly #attachment: { detach(): void } | undefined;
  readonly #sse: SseEndpoint;
  readonly #connections = new Map<string, AnyConnection>();
  /** Origin check, connection caps and rate limits (docs/security.md). */
  readonly #admission: Admission;
  readonly #bySession = new Map<string, AnyConnection>();
  readonly #index = new RoomIndex<AnyConnection>();
  readonly #subscriptions = new Map<string, Promise<void>>();
  readonly #heartbeat: HeartbeatSweep;
  readonly #batcher = new WriteBatcher();
  readonly #dedup: RequestDedup;
  readonly #outgoing: OutgoingRequests;
  readonly #sessions: SessionStore;
  readonly #pingFrames = new Map<Codec, Frame>();
  readonly #presence: PresenceTracker;
  /** Frames of at least this many bytes are deflated when the client negotiated compression. */
  readonly #compressThreshold: number;
  /** Connections that resumed a session: only their joins can end a presence grace period. */
  readonly #resumed = new WeakSet<AnyConnection>();
  readonly #listeners = new Map<string, Array<(...args: never[]) => void>>();
  readonly #nodeMessageHandlers = new Map<string, (payload: Record<string, unknown>) => void>();
  #connectionCounter = 0;
  /** Open SSE connections, kept as a count so `metrics()` never walks every connection. */
  #sseConnections = 0;
  #requestsInFlight = 0;
  #closing: Promise<void> | undefined;

  constructor(options: TetherServerOptions<E, Data> = {}) {
    this.options = resolveOptions(options);
    this.#codecs = this.options.codecs;
    const { compression } = this.options;
    this.#compressThreshold = compression ? compression.threshold : Number.POSITIVE_INFINITY;
    this.#ownsBus = options.bus === undefined;
    this.#bus = options.bus ?? new MemoryBus({ dedupTtlMs: this.options.dedupWindowMs });
    this.#heartbeat = new HeartbeatSweep(this.options.heartbeat);
    this.#dedup = new RequestDedup(this.#bus.outcomes ?? busOutcomeStore(this.#bus), {
      windowMs: this.options.dedupWindowMs,
      logger: this.logger,
    });
    this.#sessions = new SessionStore(this.#bus, this.options.sessionTtlMs, this.logger);
    this.#admission = new Admission({
      // Key functions take this server's `Data`; the admission handles connections of any data.
      limits: this.options.limits as ResolvedLimits<unknown>,
      allowedOrigins: this.options.allowedOrigins,
      bus: this.#bus,
      host: this,
      logger: this.logger,
      // A paused client's pongs wait too: pauses stay far shorter than the heartbeat deadline.
      maxPauseMs: Math.min(5_000, (this.options.heartbeat.intervalMs + this.options.heartbeat.timeoutMs) / 4),
    });
    this.#outgoing = new OutgoingRequests({
      nodeId: this.nodeId,
      currentConnection: (sessionId) => this.#bySession.get(sessionId),
      onUndelivered: (message) => this.#emit('undelivered', message),
      metrics: this.counters,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: deflateOptions(this.options.compression),
      maxPayload: this.options.maxPayload,
      handleProtocols: (offered) => negotiate(offered, this.#codecs)?.subprotocol ?? false,
      WebSocket: TransportSocket,
    });
    this.#link = this.#bus.attach({
      nodeId: this.nodeId,
      onRoomMessage: (delivery) => this.#fanOut(delivery),
      onNodeMessage: (payload) => this.#onNodeMessage(payload),
      onStatus: (status) => this.#emit('bus:status', status),
    });
    this.#link.catch((err) => this.logger.error({ err }, 'could not attach to the bus'));
    this.#presence = new PresenceTracker(
      {
        bus: this.#bus,
        logger: this.logger,
        // Volatile and out of history; not counted as the app's publishes.
        publishPresence: (room, change, except) =>
          this.#bus.publish({
            room,
            event: PRESENCE_EVENT,
            data: change,
            history: false,
            volatile: true,
            except,
          }),
      },
      this.options.presenceGraceMs,
    );
    this.registerNodeMessage('reply', (payload) => this.#outgoing.settle(payload.message as ReplyMessage));
    this.#sse = new SseEndpoint(this, options.sse);
    this.requestHandler = this.#sse.handle;
    this.#heartbeat.start();
    if (options.server) {
      this.#attachment = attachToServer(
        options.server,
        this.options.path,
        (req, socket, head) => void this.handleUpgrade(req, socket, head),
        (req, res) => this.handleRequest(req, res),
      );
    }
  }

  get logger() {
    return this.options.logger;
  }

  get clock(): CoarseClock {
    return this.#heartbeat;
  }

  /** Listens to `connection`, `undelivered` and `bus:status`. */
  on<K extends keyof TetherServerEvents<E, Data>>(event: K, listener: TetherServerEvents<E, Data>[K]): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as (...args: never[]) => void);
    this.#listeners.set(event, list);
    return this;
  }

  off<K extends keyof TetherServerEvents<E, Data>>(event: K, listener: TetherServerEvents<E, Data>[K]): this {
    const list = this.#listeners.get(event)?.filter((l) => l !== listener);
    if (list?.length) this.#listeners.set(event, list);
    else this.#listeners.delete(event);
    return this;
  }

  /** Broadcast to a room's members on every node. */
  to(room: string): BroadcastOperator<E> {
    return new BroadcastOperator<E>(this.#publish, room);
  }

  /** A room's members on every node, and broadcast to it. */
  in(room: string): { presence(): Promise<PresenceMember[]>; emit: BroadcastOperator<E>['emit'] } {
    const operator = this.to(room);
    return { presence: () => this.#bus.members(room), emit: operator.emit.bind(operator) };
  }

  /** Snapshot of counters and gauges. */
  metrics(): MetricsSnapshot {
    const m = this.counters;
    const sse = this.#sseConnections;
    return {
      connections: { total: this.#connections.size, websocket: this.#connections.size - sse, sse },
      rooms: this.#index.roomCount,
      messages: { in: m.messagesIn, out: m.messagesOut, rejected: m.rejected, rateLimited: m.rateLimited },
      bytes: { in: m.bytesIn, out: m.bytesOut },
      requests: { handled: m.requestsHandled, dedupHits: m.dedupHits },
      acks: { retries: m.retries, undelivered: m.undelivered },
      publishes: m.publishes,
      recoveries: { ok: m.recoveriesOk, failed: m.recoveriesFailed },
      drops: { volatile: m.volatileDropped, slowConsumerCloses: m.slowConsumerCloses },
      joinsRefused: m.joinsRefused,
      connectionsOpened: m.connectionsOpened,
      connectionsClosed: m.connectionsClosed,
      bus: { status: this.#bus.status },
    };
  }

  /**
   * Readiness for a load balancer: ready while the bus is up and the server is not closing.
   * Also served as `GET {path}/health` (200 ready, 503 not).
   */
  health(): HealthReport {
    const bus = this.#bus.status;
    const closing = this.#closing !== undefined;
    return { ready: bus === 'up' && !closing, bus, closing, connections: this.#connections.size };
  }

  /** @internal timing observers for metrics exporters (request handling and publish latency, ms). */
  readonly observers: { request: Array<(ms: number) => void>; publish: Array<(ms: number) => void> } = {
    request: [],
    publish: [],
  };

  /** Open connections on this node. */
  get connections(): ReadonlyMap<string, Connection<E, Data>> {
    return this.#connections;
  }

  /**
   * Handles an HTTP upgrade at `path` (noServer mode: call it from your server's 'upgrade').
   * Refusals answer with an HTTP status and a JSON body `{ error: { code, message } }`.
   */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that vanishes during authentication must not crash the process.
    socket.on('error', destroyOnError);
    if (this.#closing) return refuseUpgrade(socket, 503, ErrorCode.ServerClosing, 'server is shutting down');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!negotiate(offered, this.#codecs)) {
      return refuseUpgrade(
        socket,
        400,
        ErrorCode.UnsupportedProtocol,
        `offer one of: ${this.#codecs.map((c) => c.subprotocol).join(', ')}`,
      );
    }
    const auth = await this.#authenticate(req);
    if (!auth.ok) return refuseUpgrade(socket, auth.status, auth.code, auth.message);
    if (socket.destroyed) return;
    if (this.#closing) return refuseUpgrade(socket, 503, ErrorCode.ServerClosing, 'server is shutting down');
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // ws listens for the socket's errors from now on; ours would stay on every socket for nothing.
      socket.off('error', destroyOnError);
      const codec = negotiate([ws.protocol], this.#codecs) ?? jsonCodec;
      void this.acceptTransport(
        new WebSocketTransport(ws, codec, this.#batcher, this.#compressThreshold),
        codec,
        auth.data,
        handshakeOf(req),
      );
    });
  }

  /** Handles a plain HTTP request at or under `path` (noServer mode: call it from your request handler). */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && pathnameOf(req.url) === `${this.options.path}/health`) {
      const health = this.health();
      const body = JSON.stringify(health);
      res.writeHead(health.ready ? 200 : 503, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
      res.end(body);
      return;
    }
    const handler = this.requestHandler;
    if (handler) handler(req, res);
    else refuseRequest(res, 426, 'UPGRADE_REQUIRED', 'connect with a WebSocket upgrade');
  }

  /** @internal plain-HTTP transports (SSE) plug in here. */
  requestHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  /**
   * @internal admits a request for any transport: `allowedOrigins` and the address cap (403, 429)
   * before `authenticate` runs, the user cap (429) after it (docs/security.md).
   */
  async authenticateRequest(
    req: IncomingMessage,
    auth: unknown,
  ): Promise<{ ok: true; data: Data } | { ok: false; status: number; code: string; message: string }> {
    const handshake = handshakeOf(req);
    const refused = this.#admission.refuseRequest(req, handshake);
    if (refused) return { ok: false, ...refused };
    let data = undefined as Data;
    if (this.options.authenticate) {
      try {
        data = (await this.options.authenticate(req, auth)) as Data;
      } catch (err) {
        this.logger.debug({ err }, 'authenticate threw');
        data = undefined as Data;
      }
      if (data === null || data === undefined)
        return { ok: false, status: 401, code: ErrorCode.Unauthorized, message: 'authentication refused' };
    }
    const refusedUser = this.#admission.refuseUser({ data, handshake });
    if (refusedUser) return { ok: false, ...refusedUser };
    return { ok: true, data };
  }

  async #authenticate(req: IncomingMessage) {
    let auth: unknown;
    try {
      auth = decodeAuthParam(new URL(req.url ?? '/', 'http://localhost').searchParams.get('auth'));
    } catch {
      return {
        ok: false as const,
        status: 400,
        code: ErrorCode.BadMessage,
        message: 'the auth parameter is not base64url JSON',
      };
    }
    return this.authenticateRequest(req, auth);
  }

  /** @internal any open transport: waits for hello, resolves the session, announces the connection. */
  async acceptTransport(
    transport: ServerTransport,
    codec: Codec,
    data: Data,
    handshake: Handshake,
  ): Promise<AnyConnection | undefined> {
    // Connection caps are reserved here for every transport; a race lost since the pre-check closes.
    const admitted = this.#admission.admit({ data, handshake });
    if (!('release' in admitted)) {
      transport.close(CloseCode.RateLimited, admitted.message);
      return undefined;
    }
    let handedOver = false;
    const gate = new HelloGate(transport, codec, this.options.helloTimeoutMs);
    let session: Awaited<ReturnType<SessionStore['resolve']>>;
    try {
      const hello = await gate.hello;
      session = await this.#sessions.resolve(hello.sid, hello.sk);
      if (gate.closed) return undefined;
      if (this.#closing) {
        transport.close(CloseCode.ServerClosing, 'server is shutting down');
        return undefined;
      }
      const conn: AnyConnection = new Connection({
        id: `${this.nodeId}.${(++this.#connectionCounter).toString(36)}`,
        sessionId: session.sessionId,
        data,
        transport,
        codec,
        host: this,
        handshake,
        resumePositions: boundedPositions(hello.rooms, this.options.limits.maxRoomsPerConnection),
        admitted,
      });
      handedOver = true;
      this.#bySession.get(session.sessionId)?.close(CloseCode.SessionReplaced, 'session resumed elsewhere');
      this.#bySession.set(session.sessionId, conn);
      this.#connections.set(conn.id, conn);
      if (conn.transport === 'sse') this.#sseConnections++;
      if (session.resumed) this.#resumed.add(conn);
      this.#heartbeat.add(conn);
      this.counters.connectionsOpened++;
      transport.events = conn;
      const { intervalMs, timeoutMs } = this.options.heartbeat;
      conn.send(
        {
          t: 'welcome',
          sid: session.sessionId,
          sk: session.secret,
          cid: conn.id,
          rs: session.resumed ? 1 : 0,
          hb: [intervalMs, timeoutMs],
          mp: this.options.maxPayload,
        },
        false,
      );
      this.#emit('connection', conn);
      for (const frame of gate.early) conn.onFrame(frame);
      if (session.resumed) this.#outgoing.sessionResumed(session.sessionId);
      return conn;
    } catch (err) {
      if (!gate.closed) this.logger.debug({ err }, 'handshake failed');
      return undefined;
    } finally {
      if (!handedOver) admitted.release();
    }
  }

  // ---- ConnectionHost ----------------------------------------------------------------------

  pingFrame(codec: Codec): Frame {
    let frame = this.#pingFrames.get(codec);
    if (!frame) this.#pingFrames.set(codec, (frame = codec.encode({ t: 'ping' })));
    return frame;
  }

  handleRequestMessage(conn: AnyConnection, message: RequestMessage): void {
    // Nothing a client sends may become an unhandled rejection (e.g. a reply that cannot be encoded).
    try {
      this.#runRequest(conn, message);
    } catch (err) {
      this.logger.error({ err }, 'request failed');
    }
  }

  handleReply(message: ReplyMessage | ErrorReplyMessage): void {
    if (this.#outgoing.settle(message)) return;
    // A reply to another node's request (the client reconnected here): send it home.
    const origin = message.id.slice(0, message.id.lastIndexOf('.'));
    if (origin && origin !== this.nodeId) {
      this.#bus
        .sendToNode(origin, { kind: 'reply', message })
        .catch((err) => this.logger.debug({ err }, 'reply not forwarded'));
    }
  }

  handleJoin(conn: AnyConnection, message: JoinMessage): Promise<void> {
    return this.#clientJoin(conn, message).catch((err) => this.logger.error({ err }, 'join failed'));
  }

  async joinRoom(
    conn: AnyConnection,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult> {
    if (conn.state !== 'open') throw new TetherError(ErrorCode.Closed, 'connection is closed');
    const roomError = validateRoomName(room);
    if (roomError) throw roomError;
    // Checked right before beginJoin (no await between), so concurrent joins cannot overshoot.
    const tooMany = this.#roomLimitError(conn, room);
    if (tooMany) throw tooMany;
    if (!conn.beginJoin(room)) {
      const page = await this.#bus.history(room, undefined, 0);
      const result: JoinResult = { ep: page.epoch, off: page.offset };
      conn.toldEpoch(room, page.epoch);
      announce(result);
      return result;
    }
    this.#index.add(room, conn);
    let page: Awaited<ReturnType<Bus['history']>>;
    try {
      await this.#subscription(room);
      const member = { connId: conn.id, data: this.options.presenceData(conn) };
      this.#bus
        .addMember(room, this.nodeId, member)
        .then(() => {
          if (this.options.presenceEventsFor(room))
            this.#presence.joined(conn.sessionId, room, member, this.#resumed.has(conn));
        })
        .catch((err) => this.logger.warn({ err, room }, 'presence not recorded'));
      page = await this.#bus.history(room, since, RECOVERY_LIMIT);
    } catch (err) {
      await this.leaveRoom(conn, room);
      throw err;
    }
    const recovered = since !== undefined && page.complete;
    const result: JoinResult = { ep: page.epoch, off: page.offset };
    if (since) {
      result.rec = recovered ? 1 : 0;
      if (recovered) this.counters.recoveriesOk++;
      else this.counters.recoveriesFailed++;
    }
    if (conn.state !== 'open') return result;
    announce(result);
    const baseline = recovered ? Math.min(since.offset, page.offset) : page.offset;
    conn.completeJoin(room, page.epoch, baseline, recovered ? page.messages : []);
    return result;
  }

  /** `dropped`: the connection was lost, so presence waits for its session to come back. */
  async leaveRoom(conn: AnyConnection, room: string, dropped = false): Promise<void> {
    if (!conn.endMembership(room)) return;
    const member = { connId: conn.id, data: this.options.presenceData(conn) };
    if (this.options.presenceEventsFor(room)) this.#presence.left(conn.sessionId, room, member, dropped);
    else
      this.#bus
        .removeMember(room, conn.id)
        .catch((err) => this.logger.debug({ err, room }, 'presence not removed'));
    if (!this.#index.delete(room, conn)) return;
    this.#subscriptions.delete(room);
    const link = await this.#link;
    await link.unsubscribe(room).catch((err) => this.logger.warn({ err, room }, 'unsubscribe failed'));
  }

  requestClient(
    conn: AnyConnection,
    event: string,
    data: unknown,
    options: RequestOptions,
  ): Promise<unknown> {
    // A dropped connection's session may come back (here): the request waits for it and retries.
    // A deliberate close ends the session, so nothing could ever ack.
    if (conn.state !== 'open' && (conn.endedByClient || this.#closing)) {
      return Promise.reject(new TetherError(ErrorCode.Closed, 'the session has ended'));
    }
    return this.#outgoing.request(conn, event, data, options);
  }

  broadcast(room: string): BroadcastOperator<EventMap> {
    return this.to(room) as BroadcastOperator<EventMap>;
  }

  connectionClosed(conn: AnyConnection, code: number): void {
    if (this.#connections.delete(conn.id) && conn.transport === 'sse') this.#sseConnections--;
    this.#heartbeat.delete(conn);
    this.counters.connectionsClosed++;
    // Closes the peer chose (normal, going away, no status) and shutdown are not drops.
    const dropped =
      code !== CloseCode.Normal &&
      code !== CloseCode.GoingAway &&
      code !== CloseCode.NoStatus &&
      !this.#closing;
    for (const room of [...conn.memberships()]) void this.leaveRoom(conn, room, dropped);
    if (this.#bySession.get(conn.sessionId) === conn) {
      this.#bySession.delete(conn.sessionId);
      // A deliberate close ends the session: its pending acks can no longer be delivered.
      if (conn.endedByClient) this.#outgoing.sessionEnded(conn.sessionId);
    }
  }

  /**
   * Stops taking connections and joins, tells clients to reconnect (elsewhere) within a random
   * delay, lets in-flight requests finish for up to `drainMs`, closes every connection and
   * leaves the bus. The http server stays open (it is the app's).
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#shutDown(options.drainMs ?? 0);
    return this.#closing;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  async #shutDown(drainMs: number): Promise<void> {
    const spread = this.options.reconnectSpreadMs;
    for (const conn of this.#connections.values()) {
      conn.send({ t: 'bye', c: CloseCode.ServerClosing, m: 'server is shutting down', rt: spread }, false);
    }
    const drainUntil = Date.now() + drainMs;
    while (this.#requestsInFlight > 0 && Date.now() < drainUntil) await delay(10);
    const closed = [...this.#connections.values()].map((conn) => waitForClose(conn));
    for (const conn of this.#connections.values())
      conn.close(CloseCode.ServerClosing, 'server is shutting down');
    await Promise.race([Promise.all(closed), delay(1_000)]);
    // Peers that did not answer the close handshake in time are cut, so no socket outlives close().
    for (const conn of this.#connections.values()) conn.expire();
    this.#sse.close();
    this.#outgoing.closeAll();
    this.#heartbeat.stop();
    this.#attachment?.detach();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.#presence.close();
    const link = await this.#link.catch(() => undefined);
    await link?.detach().catch((err) => this.logger.warn({ err }, 'bus detach failed'));
    if (this.#ownsBus) await this.#bus.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  /** @internal lets a transport module handle one kind of node-to-node message (bus `sendToNode`). */
  registerNodeMessage(kind: string, handler: (payload: Record<string, unknown>) => void): void {
    this.#nodeMessageHandlers.set(kind, handler);
  }

  /** @internal */
  get bus(): Bus {
    return this.#bus;
  }

  #onNodeMessage(payload: unknown): void {
    if (typeof payload !== 'object' || payload === null) return;
    const kind = (payload as { kind?: unknown }).kind;
    const handler = typeof kind === 'string' ? this.#nodeMessageHandlers.get(kind) : undefined;
    handler?.(payload as Record<string, unknown>);
  }

  readonly #publish = (
    room: string,
    event: string,
    data: unknown,
    except: readonly string[],
    options: BroadcastOptions,
  ): Promise<PublishResult> => {
    this.counters.publishes++;
    const published = publishBroadcast(this.#bus, this.options, room, event, data, except, options);
    if (this.observers.publish.length > 0) {
      const started = performance.now();
      void published.then(() => {
        for (const observe of this.observers.publish) observe(performance.now() - started);
      }, noop);
    }
    return published;
  };

  /** One encode per codec per message, then the same bytes to every local member. */
  #fanOut(delivery: Delivery): void {
    const members = this.#index.members(delivery.room);
    if (!members) return;
    const except = delivery.except;
    let frames: Map<Codec, Frame> | undefined;
    let jsonFrame: Frame | undefined;
    for (const conn of members) {
      if (except && except.length > 0 && except.includes(conn.id)) continue;
      let frame: Frame | undefined;
      if (conn.codec === jsonCodec)
        frame = jsonFrame ??= Buffer.from(jsonCodec.encode(roomMessage(delivery)) as string);
      else {
        frames ??= new Map();
        frame = frames.get(conn.codec);
        if (!frame) frames.set(conn.codec, (frame = conn.codec.encode(roomMessage(delivery))));
      }
      conn.deliver(delivery, frame);
    }
  }

  async #subscription(room: string): Promise<void> {
    let subscribed = this.#subscriptions.get(room);
    if (!subscribed) {
      subscribed = this.#link.then((link) => link.subscribe(room));
      this.#subscriptions.set(room, subscribed);
      subscribed.catch(() => this.#subscriptions.delete(room));
    }
    return subscribed;
  }

  /** TOO_MANY_ROOMS when joining `room` would take the connection past `maxRoomsPerConnection`. */
  #roomLimitError(conn: AnyConnection, room: string): TetherError | undefined {
    const max = this.options.limits.maxRoomsPerConnection;
    const rooms = conn.rooms;
    if (rooms.size < max || rooms.has(room)) return undefined;
    return new TetherError(ErrorCode.TooManyRooms, `a connection may be in at most ${max} rooms`, { max });
  }

  async #clientJoin(conn: AnyConnection, message: JoinMessage): Promise<void> {
    const refuse = (code: string, text: string): void => {
      conn.send({ t: 'err', id: message.id, c: code, m: text }, false);
    };
    if (this.#closing) return refuse(ErrorCode.ServerClosing, 'server is shutting down');
    const roomError = validateRoomName(message.r);
    if (roomError) return refuse(roomError.code, roomError.message);
    // Before authorizeJoin: a client at its room limit costs the app nothing.
    const tooMany = this.#roomLimitError(conn, message.r);
    if (tooMany) return refuse(tooMany.code, tooMany.message);
    let allowed = false;
    try {
      allowed = (await this.options.authorizeJoin(conn, message.r)) === true;
    } catch (err) {
      this.logger.debug({ err, room: message.r }, 'authorizeJoin threw');
    }
    if (!allowed) {
      this.counters.joinsRefused++;
      return refuse(ErrorCode.JoinRefused, `joining "${message.r}" is not allowed`);
    }
    const since =
      message.ep !== undefined && message.off !== undefined
        ? { epoch: message.ep, offset: message.off }
        : undefined;
    try {
      await this.joinRoom(conn, message.r, since, (result) =>
        conn.send({ t: 'res', id: message.id, d: result }, false),
      );
    } catch (err) {
      const code = err instanceof TetherError ? err.code : ErrorCode.Internal;
      refuse(code, err instanceof Error ? err.message : 'join failed');
    }
  }

  #runRequest(conn: AnyConnection, message: RequestMessage): void {
    if (message.ak) this.#dedup.release(conn.sessionId, message.ak);
    if (message.e === PRESENCE_REQUEST) {
      this.#presenceOf(conn, message.d)
        .then((outcome) => this.#answer(conn, message.id, outcome))
        .catch((err) => this.logger.error({ err }, 'request failed'));
      return;
    }
    if (isReservedEvent(message.e)) {
      this.counters.rejected++;
      this.#answer(conn, message.id, {
        ok: false,
        code: ErrorCode.ReservedEvent,
        message: `"${message.e}" is a reserved event name`,
      });
      return;
    }
    const handler = conn.handlersOf(message.e)?.[0];
    if (!handler) {
      this.#answer(conn, message.id, {
        ok: false,
        code: ErrorCode.NoHandler,
        message: `no handler for "${message.e}"`,
      });
      return;
    }
    const started = this.observers.request.length > 0 ? performance.now() : 0;
    const outcome = this.#dedup.run(
      conn.sessionId,
      message.id,
      () => runHandler(handler, message.d),
      this.#countDedupHit,
      message.rt === 1,
    );
    if (!(outcome instanceof Promise)) {
      this.#finishRequest(conn, message.id, outcome, started);
      return;
    }
    this.#requestsInFlight++;
    outcome
      .then((settled) => this.#finishRequest(conn, message.id, settled, started))
      .catch((err) => this.logger.error({ err }, 'request failed'))
      .finally(() => this.#requestsInFlight--);
  }

  readonly #countDedupHit = () => {
    this.counters.dedupHits++;
  };

  #finishRequest(conn: AnyConnection, id: string, outcome: Outcome, started: number): void {
    this.counters.requestsHandled++;
    for (const observe of this.observers.request) observe(performance.now() - started);
    this.#answer(conn, id, outcome);
  }

  /** The reply goes to the session's current connection: the client may have reconnected meanwhile. */
  #answer(conn: AnyConnection, id: string, outcome: Outcome): void {
    const target = this.#bySession.get(conn.sessionId) ?? conn;
    if (!outcome.ok) {
      target.send({ t: 'err', id, c: outcome.code, m: outcome.message }, false);
      return;
    }
    try {
      target.send({ t: 'res', id, d: outcome.data }, false);
    } catch (err) {
      // A reply the codec cannot carry (a BigInt or a cycle for JSON): an error now, not a timeout later.
      this.logger.error({ err, id }, 'a request handler returned a reply that cannot be encoded');
      target.send({ t: 'err', id, c: ErrorCode.Internal, m: 'the reply could not be encoded' }, false);
    }
  }

  /** The answer to `tether:presence`: the room's members, for members of the room only. */
  async #presenceOf(conn: AnyConnection, data: unknown): Promise<Outcome> {
    const room = (data as { room?: unknown } | undefined)?.room;
    if (typeof room !== 'string' || !conn.rooms.has(room)) {
      return { ok: false, code: ErrorCode.JoinRefused, message: 'presence is visible to room members only' };
    }
    try {
      return { ok: true, data: await this.#bus.members(room) };
    } catch (err) {
      return { ok: false, code: ErrorCode.BusUnavailable, message: (err as Error).message };
    }
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.logger.error({ err, event }, 'listener threw');
      }
    }
  }
}

/** Runs a request handler; a handler that answers synchronously gets a synchronous outcome. */
function runHandler(handler: (data: unknown) => unknown, data: unknown): Outcome | Promise<Outcome> {
  let result: unknown;
  try {
    result = handler(data);
  } catch (err) {
    return failure(err);
  }
  if (isThenable(result))
    return Promise.resolve(result).then((value) => ({ ok: true, data: value }), failure);
  return { ok: true, data: result };
}

function failure(err: unknown): Outcome {
  const code = err instanceof TetherError ? err.code : ErrorCode.HandlerError;
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, code, message };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** Readiness as `tether.health()` reports it. */
export interface HealthReport {
  ready: boolean;
  bus: 'up' | 'down';
  closing: boolean;
  connections: number;
}

const noop = () => {};

/** A client can only have been in so many rooms: positions beyond that are ignored, not kept. */
function boundedPositions(
  rooms: Record<string, Position> | undefined,
  max: number,
): Record<string, Position> | undefined {
  if (!rooms) return undefined;
  const entries = Object.entries(rooms);
  return entries.length <= max ? rooms : Object.fromEntries(entries.slice(0, max));
}

// Shared, not a closure: a listener made inside handleUpgrade would keep the request (and its
// headers) alive for as long as the socket lives.
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function waitForClose(conn: AnyConnection): Promise<void> {
  return new Promise((resolve) => conn.on('close', () => resolve()));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
