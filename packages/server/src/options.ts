import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Bus, HistoryPolicy } from './bus.js';
import type { Connection } from './connection.js';
import type { EventMap } from './typed-events.js';

/** Structured logger: pino's method shape, so a pino instance fits as it is. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of `new TetherServer(options)`. Every field is optional. */
export interface TetherServerOptions<E extends EventMap = EventMap, Data = unknown> {
  /** The http/https server to attach to. Omit for noServer mode (call `handleUpgrade`/`handleRequest`). */
  server?: HttpServer | HttpsServer;
  /** Where every Tether endpoint lives. Default `/tether`. */
  path?: string;
  /** The cross-node bus. Default: a `MemoryBus` owned (and closed) by this server. */
  bus?: Bus;
  /**
   * Checks a connecting client. `auth` is what the client's `auth` option produced (undefined
   * for plain EventSource). Return the connection's `data`; return null or throw to refuse (HTTP 401).
   */
  authenticate?: (req: IncomingMessage, auth: unknown) => Data | null | Promise<Data | null>;
  /** Decides client-initiated joins. Default: refuse all (server-side joins need no permission). */
  authorizeJoin?: (conn: Connection<E, Data>, room: string) => boolean | Promise<boolean>;
  /** Heartbeat: ping interval and the silence allowed after it, in ms. Defaults 25 000 and 20 000. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** History kept per room; a function decides per room. `false` keeps none. Default 100 messages, 2 minutes. */
  history?: HistoryPolicy | false | ((room: string) => HistoryPolicy | false);
  /** Window in ms in which a request id runs its handler once, and a publish id publishes once. Default 5 minutes. */
  dedupWindowMs?: number;
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  maxPayload?: number;
  /** How long a resumable session lives, in ms. Default 24 h. */
  sessionTtlMs?: number;
  /** Time allowed for the client's `hello` after the transport opens, in ms. Default 10 000. */
  helloTimeoutMs?: number;
  /** Bytes queued for one connection before volatile messages are dropped; at 4x, the connection closes (4009). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** The public part of `conn.data` shown in presence. Default: `conn.data` itself. */
  presenceData?: (conn: Connection<E, Data>) => unknown;
  /** Upper bound of the reconnect spread told to clients on shutdown, in ms. Default 5 000. */
  reconnectSpreadMs?: number;
  /** A pino-compatible logger. Default: silent. */
  logger?: Logger;
}

export interface ResolvedOptions<E extends EventMap, Data> {
  path: string;
  authenticate: TetherServerOptions<E, Data>['authenticate'];
  authorizeJoin: NonNullable<TetherServerOptions<E, Data>['authorizeJoin']>;
  heartbeat: { intervalMs: number; timeoutMs: number };
  historyFor: (room: string) => HistoryPolicy | false;
  dedupWindowMs: number;
  maxPayload: number;
  sessionTtlMs: number;
  helloTimeoutMs: number;
  maxBufferedBytes: number;
  presenceData: (conn: Connection<E, Data>) => unknown;
  reconnectSpreadMs: number;
  logger: Logger;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const DEFAULT_HISTORY: HistoryPolicy = { size: 100, ttlMs: 120_000 };

function normalizePath(path: string): string {
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.length > 1 && withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}

export function resolveOptions<E extends EventMap, Data>(
  options: TetherServerOptions<E, Data>,
): ResolvedOptions<E, Data> {
  const history = options.history ?? DEFAULT_HISTORY;
  return {
    path: normalizePath(options.path ?? '/tether'),
    authenticate: options.authenticate,
    authorizeJoin: options.authorizeJoin ?? (() => false),
    heartbeat: {
      intervalMs: options.heartbeat?.intervalMs ?? 25_000,
      timeoutMs: options.heartbeat?.timeoutMs ?? 20_000,
    },
    historyFor: typeof history === 'function' ? history : () => history,
    dedupWindowMs: options.dedupWindowMs ?? 5 * 60_000,
    maxPayload: options.maxPayload ?? 1024 * 1024,
    sessionTtlMs: options.sessionTtlMs ?? 24 * 3_600_000,
    helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    presenceData: options.presenceData ?? ((conn) => conn.data),
    reconnectSpreadMs: options.reconnectSpreadMs ?? 5_000,
    logger: options.logger ?? silent,
  };
}
