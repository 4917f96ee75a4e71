import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { type Codec, jsonCodec, type Logger } from '@tether/protocol';
import { optionalMsgpackCodec } from '@tether/protocol/msgpack-node';
import type { Bus, HistoryPolicy } from './bus.js';
import type { Connection } from './connection.js';
import type { Handshake } from './handshake.js';
import type { Inbox } from './inbox.js';
import type { RateLimitOptions, ResolvedLimits, UserKey } from './limits/limit-options.js';
import { resolveLimits } from './limits/limit-options.js';
import {
  type NotificationOptions,
  type ResolvedNotificationOptions,
  resolveNotificationOptions,
} from './notification-options.js';
import type { OperationsOptions } from './operations.js';
import type { AllowedOrigins } from './origin.js';
import type { SseOptions } from './transports/sse-options.js';
import type { EventMap, PresenceData } from './typed-events.js';

/** Structured logger: pino's method shape, so a pino instance fits as it is. */
export type { Logger };

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
   * for plain EventSource and for clients without `auth`), `req` the request that opened the
   * connection (cookies, headers): the WebSocket upgrade or the SSE stream. Runs at the upgrade
   * when the client sends no credentials, when its hello arrives when it does (they travel in the
   * hello, never in the URL), and again on every credentials refresh. Return the connection's
   * `data` (wrap it in `withExpiry` when the credentials expire); return null or throw to refuse
   * (HTTP 401 before the upgrade, close 4401 after it).
   */
  authenticate?: (req: IncomingMessage, auth: unknown) => Data | null | Promise<Data | null>;
  /** Decides client-initiated joins. Default: refuse all (server-side joins need no permission). */
  authorizeJoin?: (conn: Connection<E, Data>, room: string) => boolean | Promise<boolean>;
  /** Heartbeat: ping interval and the silence allowed after it, in ms. Defaults 25 000 and 20 000. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /**
   * History kept per room; a function decides per room. `false` keeps none. Default: 5 minutes,
   * at most 1 MiB of message bodies and 10 000 messages per room (docs/delivery-guarantees.md).
   */
  history?: HistoryPolicy | false | ((room: string) => HistoryPolicy | false);
  /** Window in ms in which a request id runs its handler once, and a publish id publishes once. Default 5 minutes. */
  dedupWindowMs?: number;
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  maxPayload?: number;
  /** How long a resumable session lives, in ms. Default 24 h. */
  sessionTtlMs?: number;
  /** Time allowed for the client's `hello` after the transport opens, in ms. Default 10 000. */
  helloTimeoutMs?: number;
  /**
   * Bytes one connection may hold back (socket buffer plus its queue): past 4x it is closed as a
   * slow consumer (4009) and recovers from history. On transports without a queue, volatile
   * messages are dropped past 1x. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Socket-buffered bytes under which a connection writes straight through. Past it, messages
   * wait in the connection's queue: urgent ones first, conflated ones replaced, volatile ones
   * dropped (docs/messaging.md). Default 64 KiB (at most `maxBufferedBytes`).
   */
  lowWaterBytes?: number;
  /**
   * Wire codecs; the first one the client offers that is listed here wins. Default JSON, and
   * msgpack when the app installed `msgpackr` (an optional peer dependency).
   */
  codecs?: readonly Codec[];
  /**
   * permessage-deflate for WebSocket frames of at least `threshold` bytes. Default off: it costs
   * CPU and memory per receiver (measurements in docs/messaging.md). `true` uses the defaults.
   */
  compression?: boolean | CompressionOptions;
  /**
   * How long a dropped connection stays in presence, silently, for its session to come back, in
   * ms: a rejoin within it announces neither `leave` nor `join`. Default 3 000; 0 announces at once.
   */
  presenceGraceMs?: number;
  /**
   * The public part of a connection shown in presence, to every member of its rooms and in
   * `tether.in(room).presence()`. Default: nothing (`data` is undefined): `conn.data` often holds
   * what others must not see (emails, tokens, roles), so the app names what to show.
   */
  presenceData?: (conn: Connection<E, Data>) => PresenceData<E>;
  /**
   * Rooms whose members get `tether:presence` join/leave events. Default: none. Every join and
   * leave of such a room is a message to all its members (N joins cost N² deliveries), so turn
   * it on for rooms that show who is there (a chat room), not for broadcast rooms.
   * `presence()` lists members of every room either way.
   */
  presenceEvents?: boolean | ((room: string) => boolean);
  /** Upper bound of the reconnect spread told to clients on shutdown, in ms. Default 5 000. */
  reconnectSpreadMs?: number;
  /** A pino-compatible logger. Default: silent. */
  logger?: Logger;
  /** SSE endpoints: gzip of event streams (docs/sse.md). */
  sse?: SseOptions;
  /**
   * Browser origins allowed to connect (against Cross-Site WebSocket Hijacking): `'same-origin'`
   * (default: the Origin's host equals the Host header; no Origin header is allowed), a list of
   * origins, a function, or `'*'` (unsafe with cookie authentication). Refused: HTTP 403 FORBIDDEN.
   */
  allowedOrigins?: AllowedOrigins;
  /** Rooms one connection may be in at once; past it joins fail with TOO_MANY_ROOMS. Default 100. */
  maxRoomsPerConnection?: number;
  /**
   * Inbound rate limit per connection (token bucket) and optionally per user across nodes.
   * Default: burst 200, 100 messages/s; `false` turns it off. See docs/security.md.
   */
  rateLimit?: RateLimitOptions<Data> | false;
  /** Concurrent connections per client address on this node; more: HTTP 429 TOO_MANY_CONNECTIONS. Default: no cap. */
  maxConnectionsPerIp?: number;
  /** Concurrent connections per user (`userKey`) on this node; more: HTTP 429 TOO_MANY_CONNECTIONS. Default: no cap. */
  maxConnectionsPerUser?: number;
  /** Names a connection's user for per-user limits. Default: `data.userId` when it is a string or number. */
  userKey?: UserKey<Data>;
  /**
   * The operations page at `{path}/operations` (nodes, connections, rooms, rates, live): off
   * unless given, and every request passes `authorize`, the app's own check (docs/operations.md).
   */
  operations?: OperationsOptions;
  /** A connection's client address for `maxConnectionsPerIp`. Default: the socket's remote address (set it behind a proxy). */
  clientIp?: (handshake: Handshake) => string | undefined;
  /** Durable notification storage of `tether.user(key).notify`. Default: a `MemoryInbox` owned (and closed) by this server. */
  inbox?: Inbox;
  /** Delivery, retries, dead letters and the offline hook of durable notifications (docs/notifications.md). */
  notifications?: NotificationOptions;
}

/** Options of WebSocket compression (permessage-deflate). */
export interface CompressionOptions {
  /** Smallest frame compressed, in bytes. Default 1 024. */
  threshold?: number;
  /** zlib window and memory level: 2^(windowBits+2) + 2^(memLevel+9) bytes per connection. Defaults 12 and 5 (32 KiB). */
  windowBits?: number;
  memLevel?: number;
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
  lowWaterBytes: number;
  codecs: readonly Codec[];
  compression: Required<CompressionOptions> | false;
  presenceGraceMs: number;
  presenceData: (conn: Connection<E, Data>) => unknown;
  presenceEventsFor: (room: string) => boolean;
  reconnectSpreadMs: number;
  logger: Logger;
  limits: ResolvedLimits<Data>;
  allowedOrigins: AllowedOrigins | undefined;
  notifications: ResolvedNotificationOptions;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
/** Sized for outages, not reconnects: 5 minutes of a room, within 1 MiB and 10 000 messages. */
const DEFAULT_HISTORY: HistoryPolicy = { size: 10_000, ttlMs: 5 * 60_000, maxBytes: 1024 * 1024 };

function normalizePath(path: string): string {
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.length > 1 && withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}

export function resolveOptions<E extends EventMap, Data>(
  options: TetherServerOptions<E, Data>,
): ResolvedOptions<E, Data> {
  const history = options.history ?? DEFAULT_HISTORY;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const compression = options.compression === true ? {} : options.compression;
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
    maxBufferedBytes,
    lowWaterBytes: Math.min(options.lowWaterBytes ?? 64 * 1024, maxBufferedBytes),
    codecs: options.codecs?.length ? options.codecs : defaultCodecs(),
    compression: compression
      ? {
          threshold: compression.threshold ?? 1024,
          windowBits: compression.windowBits ?? 12,
          memLevel: compression.memLevel ?? 5,
        }
      : false,
    presenceGraceMs: options.presenceGraceMs ?? 3_000,
    presenceData: options.presenceData ?? (() => undefined),
    presenceEventsFor:
      typeof options.presenceEvents === 'function'
        ? options.presenceEvents
        : options.presenceEvents === true
          ? () => true
          : () => false,
    reconnectSpreadMs: options.reconnectSpreadMs ?? 5_000,
    logger: options.logger ?? silent,
    limits: resolveLimits(options),
    allowedOrigins: options.allowedOrigins,
    notifications: resolveNotificationOptions(options.notifications),
  };
}

/** JSON, and msgpack beside it when msgpackr is installed (apps on JSON need not install it). */
function defaultCodecs(): Codec[] {
  const msgpack = optionalMsgpackCodec();
  return msgpack ? [jsonCodec, msgpack] : [jsonCodec];
}
