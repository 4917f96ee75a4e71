import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BroadcastOperator, type BroadcastOptions, publishBroadcast } from './broadcast.js';
import type { Bus, PublishResult } from './bus.js';
import type { Connection } from './connection.js';
import type { ConnectionEngine } from './connection-engine.js';
import { Drain } from './drain.js';
import { attachToServer, pathnameOf } from './http-endpoint.js';
import type { InboundHook } from './inbound-hooks.js';
import type { Instrumentation } from './instrumentation.js';
import { Metrics, type MetricsSnapshot, metricsSnapshot } from './metrics.js';
import type { OfflineNotification, UndeliveredNotification } from './notification-delivery.js';
import { type OperationsPage, operationsPage } from './operations-wiring.js';
import { type ResolvedOptions, resolveOptions, type TetherServerOptions } from './options.js';
import type { UndeliveredMessage } from './outgoing-requests.js';
import { ServerListeners } from './server-listeners.js';
import { assembleParts, type PartOptions, type ServerParts } from './server-parts.js';
import type { EventMap, TypedPresenceMember, UnknownEvents } from './typed-events.js';
import { UserOperator, userKeyString } from './user-directory.js';
import type { DeadLetters } from './users.js';

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
  /** The bus's state once the node attached to it, then every change (it lost or regained its store). */
  'bus:status': (status: 'up' | 'down') => void;
}

/** Options of `tether.close()`. */
export interface CloseOptions {
  /**
   * The drain window, in ms: clients move to other nodes without a gap while it runs, and
   * in-flight requests get this long to finish. Default 0: every connection closes at once.
   */
  drainMs?: number;
}

/** Readiness as `tether.health()` reports it. */
export interface HealthReport {
  ready: boolean;
  bus: 'up' | 'down';
  closing: boolean;
  connections: number;
}

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
  /**
   * For metrics exporters and tracers: timing observers (request handling and publish latency,
   * ms) and the span hooks (`@tether/server/otel` sets them).
   */
  readonly observers: {
    request: Array<(ms: number) => void>;
    publish: Array<(ms: number) => void>;
    instrumentation: Instrumentation;
  } = { request: [], publish: [], instrumentation: {} };
  readonly #parts: ServerParts;
  readonly #hooks: InboundHook[] = [];
  readonly #operations: OperationsPage | undefined;
  readonly #attachment: { detach(): void } | undefined;
  readonly #listeners = new ServerListeners((err, event) =>
    this.logger.error({ err, event }, 'listener threw'),
  );
  #closing: Promise<void> | undefined;

  constructor(options: TetherServerOptions<E, Data> = {}) {
    this.options = resolveOptions(options);
    this.#parts = assembleParts({
      nodeId: this.nodeId,
      // The parts serve connections of every event map and data type alike.
      options: this.options as unknown as PartOptions,
      bus: options.bus,
      sse: options.sse,
      counters: this.counters,
      requestObservers: this.observers.request,
      instrumentation: this.observers.instrumentation,
      closing: () => this.#closing !== undefined,
      broadcast: (room) => this.to(room) as BroadcastOperator<EventMap>,
      opened: (conn) => this.#listeners.emit('connection', conn),
      busStatus: (status) => this.#listeners.emit('bus:status', status),
      undelivered: (message) => this.#listeners.emit('undelivered', message),
      inbox: options.inbox,
      offline: (notification) => this.#listeners.emit('notification:offline', notification),
      wantsOffline: () => this.#listeners.has('notification:offline'),
      hooks: this.#hooks as InboundHook[],
    });
    this.#parts.heartbeat.start();
    this.#operations =
      options.operations &&
      operationsPage(this, this.#parts.rooms, options.operations, this.#parts.users.inbox);
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
    this.#listeners.add(event, listener as (...args: never[]) => void);
    return this;
  }

  off<K extends keyof TetherServerEvents<E, Data>>(event: K, listener: TetherServerEvents<E, Data>[K]): this {
    this.#listeners.remove(event, listener as (...args: never[]) => void);
    return this;
  }

  /**
   * Adds an inbound hook: it sees every client event and request (name and data, with its
   * connection) after `authenticate` admitted the connection and before the handler runs, and
   * can check, log or refuse it by throwing (docs/security.md, "Inbound hooks"). Joins are not
   * hooks' business: `authorizeJoin` decides them.
   *
   * @example
   * tether.use((conn, event) => {
   *   if (conn.data.readOnly && event !== 'doc:read') throw new TetherError('FORBIDDEN', 'read-only');
   * });
   */
  use(hook: InboundHook<E, Data>): this {
    this.#hooks.push(hook as unknown as InboundHook);
    return this;
  }

  /** Broadcast to a room's members on every node. */
  to(room: string): BroadcastOperator<E> {
    return new BroadcastOperator<E>(this.#publish, room);
  }

  /** A room's members on every node, and broadcast to it. */
  in(room: string): { presence(): Promise<TypedPresenceMember<E>[]>; emit: BroadcastOperator<E>['emit'] } {
    const operator = this.to(room);
    const presence = () => this.#parts.bus.members(room) as Promise<TypedPresenceMember<E>[]>;
    return { presence, emit: operator.emit.bind(operator) };
  }

  /**
   * One user's connections on every node (the user key is the `userKey` option's): `emit` live,
   * `notify` durably, `disconnect`. See docs/notifications.md.
   */
  user(key: string | number): UserOperator<E> {
    return new UserOperator<E>(this.#parts.users, userKeyString(key));
  }

  /** Notifications given up after `notifications.maxAttempts` deliveries: list them, send them again. */
  get deadLetters(): DeadLetters {
    return this.#parts.users.deadLetters;
  }

  /** Snapshot of counters and gauges. */
  metrics(): MetricsSnapshot {
    const { registry, rooms, bus } = this.#parts;
    return metricsSnapshot(this.counters, {
      connections: registry.size,
      sseConnections: registry.sseCount,
      rooms: rooms.count,
      bus: bus.status,
    });
  }

  /**
   * Readiness for a load balancer: ready while the bus is up and the server is not closing.
   * Also served as `GET {path}/health` (200 ready, 503 not).
   */
  health(): HealthReport {
    const bus = this.#parts.bus.status;
    const closing = this.#closing !== undefined;
    return { ready: bus === 'up' && !closing, bus, closing, connections: this.#parts.registry.size };
  }

  /**
   * Settles once the bus is reachable; rejects with a TetherError BUS_UNAVAILABLE (naming the
   * cause) when it is not within `timeoutMs` (default 10 000). `bus:status` reports the same.
   */
  ready(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#parts.readiness.ready(options.timeoutMs);
  }

  /** Open connections on this node. */
  get connections(): ReadonlyMap<string, Connection<E, Data>> {
    return this.#parts.registry.view as unknown as ReadonlyMap<string, Connection<E, Data>>;
  }

  /** The bus this server publishes and subscribes through. */
  get bus(): Bus {
    return this.#parts.bus;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Handles an HTTP upgrade at `path` (noServer mode: call it from your server's 'upgrade').
   * Refusals answer with an HTTP status and a JSON body `{ error: { code, message } }`.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    return this.#parts.gateway.handleUpgrade(req, socket, head);
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
    if (this.#operations?.handle(req, res)) return;
    this.#parts.gateway.handleRequest(req, res);
  }

  /**
   * Stops taking connections and joins and moves the clients: with `drainMs`, each is told in
   * turn (paced to the number of connections) to open its next connection elsewhere before this
   * one closes; a connection is closed once its client moved, or after a grace once its running
   * requests answered, or at the end of `drainMs`. Without, every client is told to reconnect
   * within a random delay and every connection closes at once. Then leaves the bus. The http
   * server stays open (it is the app's).
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#shutDown(options.drainMs ?? 0);
    return this.#closing;
  }

  async #shutDown(drainMs: number): Promise<void> {
    const { registry, requests, heartbeat, gateway, rooms, bus, readiness } = this.#parts;
    readiness.close();
    const started = Date.now();
    // Clients move to other nodes while their connections here still deliver (docs/operations.md).
    const drain = new Drain([...registry.values()], {
      drainMs,
      maxSpreadMs: this.options.reconnectSpreadMs,
      busy: (engine) => requests.busy(engine),
    });
    await drain.run();
    // Handlers of clients that moved finish here: their outcomes are stored for the retry elsewhere.
    await requests.drain(drainMs - (Date.now() - started));
    const closed = [...registry.values()].map((engine) => waitForClose(engine));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closed), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    // Peers that did not answer the close handshake in time are cut, so no socket outlives close().
    for (const engine of [...registry.values()]) engine.expire();
    requests.close();
    await this.#parts.users.close();
    if (this.#parts.ownsInbox) await this.#parts.users.inbox.close();
    heartbeat.stop();
    this.#parts.identity.close();
    this.#attachment?.detach();
    await this.#operations?.close();
    await gateway.close();
    await rooms.close();
    const link = await this.#parts.link.catch(() => undefined);
    await link?.detach().catch((err) => this.logger.warn({ err }, 'bus detach failed'));
    if (this.#parts.ownsBus) await bus.close();
  }

  readonly #publish = (
    room: string,
    event: string,
    data: unknown,
    except: readonly string[],
    options: BroadcastOptions,
  ): Promise<PublishResult> => {
    this.counters.publishes++;
    const publish = () => publishBroadcast(this.#parts.bus, this.options, room, event, data, except, options);
    const around = this.observers.instrumentation.publish;
    const published = around
      ? around({ room, event, volatile: options.volatile === true }, publish)
      : publish();
    if (!options.volatile) void published.then((at) => this.#parts.rooms.published(room, at), noop);
    const observers = this.observers.publish;
    if (observers.length > 0) {
      const started = performance.now();
      void published.then(() => {
        for (const observe of observers) observe(performance.now() - started);
      }, noop);
    }
    return published;
  };
}

const noop = () => {};

function waitForClose(engine: ConnectionEngine): Promise<void> {
  return new Promise((resolve) => engine.addCloseListener(() => resolve()));
}
