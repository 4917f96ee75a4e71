import type { Codec, TetherError } from '@tether/protocol';
import type { BackoffOptions } from './backoff.js';
import type { Persistence } from './persistence-types.js';
import type { MessageMeta, PresenceEvent } from './room.js';
import type { SilenceWatch } from './silence-watch.js';
import type { ClientState } from './state.js';
import type { TransportFactory, TransportKind } from './transports/transport.js';

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
  /**
   * Trace context for each request (a propagator's carrier, e.g. `{ traceparent }`), carried to
   * the server handler's span by `@tether/server/otel`. Called once per request; nothing is
   * read unless you pass it (docs/observability.md shows the OpenTelemetry one-liner).
   */
  traceContext?: () => Record<string, string> | undefined;
  /**
   * Node only: HTTP headers sent on the WebSocket upgrade and on every request of the SSE
   * transport (its stream and its POSTs), e.g. `{ cookie: 'connect.sid=...' }` for a server
   * whose `authenticate` reads a session cookie. A function is called on each connect attempt;
   * if it throws, the client reports an `UNAUTHORIZED` error and closes. Browsers send their
   * cookies themselves and let no page set WebSocket headers: the browser build throws a
   * `TypeError` when this option is given.
   */
  headers?: Record<string, string> | (() => Record<string, string>);
}

/**
 * Why the client left `open`, with every such state change (`client.on('tether:disconnect')`,
 * `client.lastDisconnect`).
 */
export interface DisconnectReason {
  /** The close code (docs/protocol.md): the server's, 1006 for a cut, 4008 for a missed heartbeat, 1000 for `close()`. */
  code: number;
  /** The close reason, when one was given. */
  reason: string;
  /** True when the client goes on to `reconnecting`, false when it goes to `closed`. */
  willReconnect: boolean;
}

/** Lifecycle events of the client, beside message events. */
export type Lifecycle = {
  state: [ClientState];
  error: [TetherError];
  /** The client left `open`: why, and whether it reconnects. */
  'tether:disconnect': [DisconnectReason];
  /**
   * Messages of a room this client is in (joined by it or by the server) were lost and could not
   * be recovered: after a reconnect, or while connected (the server's bus missed them and its
   * history no longer had them). Fires before the first message after the gap.
   */
  'tether:recovery-failed': [{ room: string }];
  /** The server refused a message over its rate limit (once per episode): `emit` drops for `ms`. */
  'tether:rate-limited': [{ m: string; ms: number }];
  /** Members joining and leaving any room this client is in (`meta.room` names it). */
  'tether:presence': [PresenceEvent, MessageMeta];
};

/** @internal what an entry point (Node, browser) provides. */
export interface ClientEnvironment {
  transports: Partial<Record<TransportKind, TransportFactory>>;
  /** Browsers: reconnect waits that pause while offline and end early when the page comes back. */
  page?: (client: PageHost, silence: SilenceWatch) => PageWatch;
}

/** What the page watcher (page-lifecycle.ts) sees of its client. */
export interface PageHost {
  readonly state: ClientState;
  on(event: 'state', listener: (state: ClientState) => void): () => void;
}

/** Runs the client's reconnect waits in place of `setTimeout`. */
export interface PageWatch {
  wait: (run: () => void, ms: number) => ReturnType<typeof setTimeout> | undefined;
}

/** Options of `client.emit`. */
export interface ClientEmitOptions {
  /** Drop instead of buffering while offline (typing indicators). */
  volatile?: boolean;
}

/** The options the connection reads, with their defaults filled in. */
export type ResolvedOptions = Required<
  Omit<TetherClientOptions, 'auth' | 'reconnect' | 'codec' | 'persistence' | 'headers'>
>;

/**
 * Fills in the defaults.
 *
 * @example
 * resolveOptions({}).connectTimeout; // 5000
 */
export function resolveOptions(options: TetherClientOptions): ResolvedOptions {
  return {
    transports: options.transports?.length ? options.transports : ['websocket', 'sse'],
    autoConnect: options.autoConnect ?? true,
    maxBufferedEmits: options.maxBufferedEmits ?? 1_000,
    connectTimeout: options.connectTimeout ?? 5_000,
    requestTimeout: options.requestTimeout ?? 10_000,
    upgradeRetryMs: options.upgradeRetryMs ?? 60_000,
    traceContext: options.traceContext ?? noTraceContext,
  };
}

/**
 * The transports to try, in order: those asked for that the environment has, WebSocket left out
 * while `skipWebSocket` (it failed recently and another transport worked) unless it is the only one.
 *
 * @example
 * usableTransports(['websocket', 'sse'], env, true); // ['sse']
 */
export function usableTransports(
  wanted: readonly TransportKind[],
  env: ClientEnvironment,
  skipWebSocket: boolean,
): TransportKind[] {
  const available = wanted.filter((kind) => env.transports[kind]);
  return skipWebSocket && available.length > 1 ? available.filter((k) => k !== 'websocket') : available;
}

/**
 * Until when to leave WebSocket out after a connection was welcomed over `kind`: for
 * `upgradeRetryMs` when WebSocket comes first but another transport got through; no longer once
 * WebSocket worked. `until` is the value so far.
 *
 * @example
 * webSocketSkip('sse', resolveOptions({}), 0); // Date.now() + 60_000
 */
export function webSocketSkip(
  kind: TransportKind | undefined,
  options: ResolvedOptions,
  until: number,
): number {
  if (kind === 'websocket') return 0;
  return options.transports[0] === 'websocket' ? Date.now() + options.upgradeRetryMs : until;
}

function noTraceContext(): undefined {
  return undefined;
}
