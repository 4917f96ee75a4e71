import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, type Codec, type Frame, type PresenceMember } from '@tether/protocol';
import { BroadcastOperator, type BroadcastOptions, publishBroadcast } from './broadcast.js';
import type { Bus, BusLink, PublishResult } from './bus.js';
import { type Connection, handleOf } from './connection.js';
import type { ConnectionContext, ConnectionEngine } from './connection-engine.js';
import { ConnectionRegistry } from './connection-registry.js';
import { Gateway } from './gateway.js';
import { HeartbeatSweep } from './heartbeat.js';
import { attachToServer, pathnameOf } from './http-endpoint.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryInbox } from './memory-inbox.js';
import { Metrics, type MetricsSnapshot } from './metrics.js';
import { NodeMessages } from './node-messages.js';
import type { OfflineNotification, UndeliveredNotification } from './notification-delivery.js';
import { type ResolvedOptions, resolveOptions, type TetherServerOptions } from './options.js';
import type { UndeliveredMessage } from './outgoing-requests.js';
import { Requests } from './requests.js';
import { Rooms } from './rooms.js';
import { SHUTTING_DOWN, shutdownNotice } from './server-messages.js';
import type { EventMap, UnknownEvents } from './typed-events.js';
import { UserOperator, userKeyString } from './user-directory.js';
import { type DeadLetters, Users } from './users.js';

/** Events of `TetherServer`. */
export interface TetherServerEvents<E extends EventMap, Data> {
  connection: (conn: Connection<E, Data>) => void;
  /**
   * A server-to-client request was given up, or a durable notification became a dead letter or
   * expired (`reason` tells which): the app can fall back (push notification, email).
   */
  undelivered: (message: UndeliveredMessage | UndeliveredNotification) => void;
  /** A notification no connection acknowledged within `notifications.offlineAfterMs`: once in the cluster. */
  'notification:offline': (notification: OfflineNotification) => void;
  /** The bus lost or regained its backing store. */
  'bus:status': (status: 'up' | 'down') => void;
}

/** Options of `tether.close()`. */
export interface CloseOptions {
  /** Time in-flight requests get to finish before connections close, in ms. Default 0. */
  drainMs?: number;
}

/** Readiness as `tether.health()` reports it. */
export interface HealthReport {
  ready: boolean;
  bus: 'up' | 'down';
  closing: boolean;
  connections: number;
}

/** The options every part reads: one event map and data type inside the server. */
type PartOptions = ResolvedOptions<EventMap, unknown>;

/**
 * Real-time endpoint attached to a Node http/https server: WebSocket connections, rooms, acks,
 * heartbeats, history with recovery, on one node or many (through the `bus`). A facade over its
 * parts (docs/architecture.md): the gateway lets connections in, the registry keeps them, rooms
 * and requests do the work.
 *
 * @example
 * const tether = new TetherServer({ server: http, authorizeJoin: (conn, room) => room === 'lobby' });
 * tether.on('connection', (conn) => conn.on('ping', () => 'pong'));
 * await tether.to('lobby').emit('news', { text: 'hello' });
 */
export class TetherServer<E extends EventMap = UnknownEvents, Data = unknown> {
  /** This node's id on the bus. */
  readonly nodeId = randomBytes(6).toString('base64url');
  readonly options: ResolvedOptions<E, Data>;
  /** Hot-path counters, read by exporters; `metrics()` is the snapshot. */
  readonly counters = new Metrics();
  /** Timing observers for metrics exporters (request handling and publish latency, ms). */
  readonly observers: { request: Array<(ms: number) => void>; publish: Array<(ms: number) => void> } = {
    request: [],
    publish: [],
  };
  readonly #bus: Bus;
  readonly #ownsBus: boolean;
  readonly #link: Promise<BusLink>;
  readonly #attachment: { detach(): void } | undefined;
  readonly #heartbeat: HeartbeatSweep;
  readonly #registry: ConnectionRegistry;
  readonly #rooms: Rooms;
  readonly #requests: Requests;
  readonly #gateway: Gateway;
  readonly #users: Users;
  readonly #ownsInbox: boolean;
  readonly #listeners = new Map<string, Array<(...args: never[]) => void>>();
  #closing: Promise<void> | undefined;

  constructor(options: TetherServerOptions<E, Data> = {}) {
    this.options = resolveOptions(options);
    // The parts serve connections of every event map and data type alike.
    const parts = this.options as unknown as PartOptions;
    const { logger } = parts;
    const counters = this.counters;
    const closing = () => this.#closing !== undefined;
    this.#ownsBus = options.bus === undefined;
    const bus = (this.#bus = options.bus ?? new MemoryBus({ dedupTtlMs: parts.dedupWindowMs }));
    const heartbeat = (this.#heartbeat = new HeartbeatSweep(parts.heartbeat));
    const registry = (this.#registry = new ConnectionRegistry(heartbeat, counters));
    const nodeMessages = new NodeMessages(logger);
    const link = (this.#link = bus.attach({
      nodeId: this.nodeId,
      onRoomMessage: (delivery) => rooms.fanOut(delivery),
      onNodeMessage: (payload) => nodeMessages.dispatch(payload),
      onStatus: (status) => this.#emit('bus:status', status),
    }));
    link.catch((err) => logger.error({ err }, 'could not attach to the bus'));
    const rooms = (this.#rooms = new Rooms({
      nodeId: this.nodeId,
      bus,
      link,
      options: parts,
      counters,
      logger,
      registry,
      closing,
    }));
    this.#ownsInbox = options.inbox === undefined;
    const users = (this.#users = new Users({
      nodeId: this.nodeId,
      bus,
      inbox: options.inbox ?? new MemoryInbox({ dedupWindowMs: parts.dedupWindowMs }),
      options: parts.notifications,
      dedupWindowMs: parts.dedupWindowMs,
      userKey: parts.limits.userKey,
      logger,
      nodeMessages,
      undelivered: (message) => this.#emit('undelivered', message),
      offline: (notification) => this.#emit('notification:offline', notification),
      wantsOffline: () => this.#listeners.has('notification:offline'),
    }));
    const requests = (this.#requests = new Requests({
      nodeId: this.nodeId,
      bus,
      dedupWindowMs: parts.dedupWindowMs,
      counters,
      logger,
      registry,
      nodeMessages,
      observers: this.observers.request,
      onUndelivered: (message) => this.#emit('undelivered', message),
      acknowledge: (engine, message) => users.ack(engine, message),
      closing,
    }));
    const pingFrames = new Map<Codec, Frame>();
    const connections: ConnectionContext = {
      lowWaterBytes: parts.lowWaterBytes,
      maxBufferedBytes: parts.maxBufferedBytes,
      counters,
      logger,
      clock: heartbeat,
      pingFrame(codec) {
        let frame = pingFrames.get(codec);
        if (!frame) pingFrames.set(codec, (frame = codec.encode({ t: 'ping' })));
        return frame;
      },
      request: (engine, message) => requests.handle(engine, message),
      reply: (message) => requests.reply(message),
      clientJoin: (engine, message) => rooms.clientJoin(engine, message),
      join: (engine, room, since, announce) => rooms.join(engine, room, since, announce),
      leave: (engine, room) => rooms.leave(engine, room),
      requestClient: (engine, event, data, requestOptions) =>
        requests.requestClient(engine, event, data, requestOptions),
      broadcast: (room) => this.to(room) as BroadcastOperator<EventMap>,
      closed: (engine, code) => this.#connectionClosed(engine, code),
    };
    this.#gateway = new Gateway({
      nodeId: this.nodeId,
      options: parts,
      sse: options.sse,
      bus,
      counters,
      logger,
      clock: heartbeat,
      registry,
      rooms,
      nodeMessages,
      connections,
      closing,
      opened: (engine, handshake) => {
        users.opened(engine, handshake);
        this.#emit('connection', handleOf(engine));
      },
      resumed: (sessionId) => requests.sessionResumed(sessionId),
    });
    heartbeat.start();
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

  /** Listens to `connection`, `undelivered`, `notification:offline` and `bus:status`. */
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

  /**
   * One user's connections on every node (the user key is the `userKey` option's): `emit` live,
   * `notify` durably, `disconnect`. See docs/notifications.md.
   */
  user(key: string | number): UserOperator<E> {
    return new UserOperator<E>(this.#users, userKeyString(key));
  }

  /** Notifications given up after `notifications.maxAttempts` deliveries: list them, send them again. */
  get deadLetters(): DeadLetters {
    return this.#users.deadLetters;
  }

  /** Snapshot of counters and gauges. */
  metrics(): MetricsSnapshot {
    const m = this.counters;
    const total = this.#registry.size;
    const sse = this.#registry.sseCount;
    return {
      connections: { total, websocket: total - sse, sse },
      rooms: this.#rooms.count,
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
    return { ready: bus === 'up' && !closing, bus, closing, connections: this.#registry.size };
  }

  /** Open connections on this node. */
  get connections(): ReadonlyMap<string, Connection<E, Data>> {
    return this.#registry.view as ReadonlyMap<string, Connection<E, Data>>;
  }

  /** The bus this server publishes and subscribes through. */
  get bus(): Bus {
    return this.#bus;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Handles an HTTP upgrade at `path` (noServer mode: call it from your server's 'upgrade').
   * Refusals answer with an HTTP status and a JSON body `{ error: { code, message } }`.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    return this.#gateway.handleUpgrade(req, socket, head);
  }

  /** Handles a plain HTTP request at or under `path` (noServer mode: call it from your request handler). */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && pathnameOf(req.url) === `${this.options.path}/health`) {
      const health = this.health();
      res.writeHead(health.ready ? 200 : 503, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
      res.end(JSON.stringify(health));
      return;
    }
    this.#gateway.handleRequest(req, res);
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

  async #shutDown(drainMs: number): Promise<void> {
    const registry = this.#registry;
    const bye = shutdownNotice(this.options.reconnectSpreadMs);
    for (const engine of registry.values()) engine.send(bye, false);
    await this.#requests.drain(drainMs);
    const closed = [...registry.values()].map((engine) => waitForClose(engine));
    for (const engine of [...registry.values()]) engine.close(CloseCode.ServerClosing, SHUTTING_DOWN);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closed), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    // Peers that did not answer the close handshake in time are cut, so no socket outlives close().
    for (const engine of [...registry.values()]) engine.expire();
    this.#requests.close();
    await this.#users.close();
    if (this.#ownsInbox) await this.#users.inbox.close();
    this.#heartbeat.stop();
    this.#attachment?.detach();
    await this.#gateway.close();
    await this.#rooms.close();
    const link = await this.#link.catch(() => undefined);
    await link?.detach().catch((err) => this.logger.warn({ err }, 'bus detach failed'));
    if (this.#ownsBus) await this.#bus.close();
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
    const observers = this.observers.publish;
    if (observers.length > 0) {
      const started = performance.now();
      void published.then(() => {
        for (const observe of observers) observe(performance.now() - started);
      }, noop);
    }
    return published;
  };

  #connectionClosed(engine: ConnectionEngine, code: number): void {
    // Closes the peer chose (normal, going away, no status) and shutdown are not drops.
    const dropped =
      code !== CloseCode.Normal &&
      code !== CloseCode.GoingAway &&
      code !== CloseCode.NoStatus &&
      !this.closing;
    const wasCurrent = this.#registry.remove(engine);
    this.#users.closed(engine);
    this.#rooms.leaveAll(engine, dropped);
    // A deliberate close ends the session: its pending acks can no longer be delivered.
    if (wasCurrent && engine.endedByClient) this.#requests.sessionEnded(engine.sessionId);
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

const noop = () => {};

function waitForClose(engine: ConnectionEngine): Promise<void> {
  return new Promise((resolve) => engine.addCloseListener(() => resolve()));
}
