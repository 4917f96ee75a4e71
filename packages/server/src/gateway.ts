import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  type Codec,
  ErrorCode,
  jsonCodec,
  type Logger,
  negotiate,
  type Position,
} from '@tether/protocol';
import { WebSocketServer, type Server as WsServer } from 'ws';
import type { Bus } from './bus.js';
import { handleFor } from './connection.js';
import { type ConnectionContext, ConnectionEngine } from './connection-engine.js';
import type { ConnectionRegistry } from './connection-registry.js';
import { applyCors } from './cors.js';
import type { Handshake } from './handshake.js';
import { HelloGate } from './hello-gate.js';
import {
  type Authenticated,
  CREDENTIALS_IN_URL,
  credentialsPlace,
  handshakeOf,
  type Opening,
  pathnameOf,
  refuseUpgrade,
} from './http-endpoint.js';
import type { Identity } from './identity.js';
import { logRefused } from './lifecycle-log.js';
import { Admission, type Admitted } from './limits/admission.js';
import type { ResolvedLimits } from './limits/limit-options.js';
import type { Metrics } from './metrics.js';
import type { NodeMessages } from './node-messages.js';
import type { ResolvedOptions } from './options.js';
import type { Rooms } from './rooms.js';
import { SHUTTING_DOWN } from './server-messages.js';
import { SessionStore } from './sessions.js';
import { SseEndpoint } from './transports/sse-endpoint.js';
import type { SseOptions } from './transports/sse-options.js';
import type { ServerTransport } from './transports/transport.js';
import {
  deflateOptions,
  TransportSocket,
  WebSocketTransport,
  type WsShared,
} from './transports/websocket.js';
import { WriteBatcher } from './transports/write-batcher.js';
import { WsInternals } from './transports/ws-internals.js';
import type { EventMap } from './typed-events.js';
import { expiryOf } from './with-expiry.js';

/** What the gateway needs from the server. */
export interface GatewayContext {
  readonly nodeId: string;
  readonly options: ResolvedOptions<EventMap, unknown>;
  readonly sse: SseOptions | undefined;
  readonly bus: Bus;
  readonly counters: Metrics;
  readonly logger: Logger;
  readonly clock: { readonly now: number };
  readonly registry: ConnectionRegistry;
  readonly rooms: Rooms;
  readonly nodeMessages: NodeMessages;
  /** Credentials of open connections: refresh and expiry. */
  readonly identity: Identity;
  /** What every engine is given. */
  readonly connections: ConnectionContext;
  closing(): boolean;
  /** A connection is open and welcomed: tell the app (`handshake` is the full one, headers included). */
  opened(engine: ConnectionEngine, handshake: Handshake): void;
  /** A resumed session's connection has handled its early frames: retry its pending requests. */
  resumed(sessionId: string): void;
}

/**
 * The one way in, for every transport: origin and address checks, `authenticate`, connection
 * caps, the `hello`, session resume, then the `welcome`. WebSocket upgrades arrive through
 * `handleUpgrade`, SSE streams through `handleRequest`; both end in `acceptTransport`.
 *
 * @example
 * const gateway = new Gateway(context);
 * server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
 */
export class Gateway {
  readonly #context: GatewayContext;
  readonly #codecs: readonly Codec[];
  readonly #wss: WsServer<typeof TransportSocket>;
  /** The write batcher and the `ws` internals, checked once here, shared by every WebSocket. */
  readonly #ws: WsShared = { batcher: new WriteBatcher(), internals: WsInternals.detect() };
  /** Frames of at least this many bytes are deflated when the client negotiated compression. */
  readonly #compressThreshold: number;
  /** Origin check, connection caps and rate limits (docs/security.md). */
  readonly #admission: Admission;
  readonly #sessions: SessionStore;
  readonly #sse: SseEndpoint;
  #connectionCounter = 0;

  constructor(context: GatewayContext) {
    this.#context = context;
    const { options, bus, logger } = context;
    this.#codecs = options.codecs;
    this.#compressThreshold = options.compression ? options.compression.threshold : Number.POSITIVE_INFINITY;
    this.#sessions = new SessionStore(bus, options.sessionTtlMs, logger);
    this.#admission = new Admission({
      limits: options.limits as ResolvedLimits<unknown>,
      allowedOrigins: options.allowedOrigins,
      bus,
      host: context,
      logger,
      // A paused client's pongs wait too: pauses stay far shorter than the heartbeat deadline.
      maxPauseMs: Math.min(5_000, (options.heartbeat.intervalMs + options.heartbeat.timeoutMs) / 4),
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: deflateOptions(options.compression),
      maxPayload: options.maxPayload,
      handleProtocols: (offered) => negotiate(offered, this.#codecs)?.subprotocol ?? false,
      WebSocket: TransportSocket,
    });
    const { rooms, nodeMessages } = context;
    this.#sse = new SseEndpoint(
      {
        nodeId: context.nodeId,
        options,
        logger,
        bus,
        closing: () => context.closing(),
        admitRequest: (req) => this.admitRequest(req),
        authenticateRequest: (req, auth) => this.authenticateRequest(req, auth),
        acceptTransport: (transport, codec, opening) => this.acceptTransport(transport, codec, opening),
        authorize: (engine, room) => rooms.authorize(engine, room),
        join: (engine, room, since, announce) => rooms.join(engine, room, since, announce),
        registerNodeMessage: (kind, handler) => nodeMessages.register(kind, handler),
      },
      context.sse,
    );
  }

  /** A WebSocket upgrade at `path`; refusals answer with an HTTP status and a JSON body. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that vanishes during authentication must not crash the process.
    socket.on('error', destroyOnError);
    const refuse = (status: number, code: string, message: string, logged = false) => {
      if (!logged) this.#logRefusal(req, { status, code, message });
      refuseUpgrade(socket, status, code, message);
    };
    if (this.#context.closing()) return refuse(503, ErrorCode.ServerClosing, SHUTTING_DOWN);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!negotiate(offered, this.#codecs)) {
      const names = this.#codecs.map((c) => c.subprotocol).join(', ');
      return refuse(400, ErrorCode.UnsupportedProtocol, `offer one of: ${names}`);
    }
    const place = credentialsPlace(req.url);
    if (place === 'url') return refuse(400, ErrorCode.BadMessage, CREDENTIALS_IN_URL);
    // Credentials in the hello: only the checks that need none run before the upgrade.
    const auth = place === 'hello' ? this.admitRequest(req) : await this.authenticateRequest(req, undefined);
    // Refusals of `admitRequest` and `authenticateRequest` were logged there (for every transport).
    if (!auth.ok) return refuse(auth.status, auth.code, auth.message, true);
    if (socket.destroyed) return;
    if (this.#context.closing()) return refuse(503, ErrorCode.ServerClosing, SHUTTING_DOWN);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // ws listens for the socket's errors from now on; ours would stay on every socket for nothing.
      socket.off('error', destroyOnError);
      const codec = negotiate([ws.protocol], this.#codecs) ?? jsonCodec;
      const transport = new WebSocketTransport(ws, codec, this.#ws, this.#compressThreshold);
      void this.acceptTransport(
        transport,
        codec,
        place === 'hello' ? { req, deferred: true } : { req, deferred: false, data: auth.data },
      );
    });
  }

  /**
   * A plain HTTP request under `path` that is not the health check: the SSE endpoints, with the
   * CORS headers `allowedOrigins` grants (preflights answered here).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (applyCors(req, res, this.#admission.originAllowed(req))) return;
    this.#sse.handle(req, res);
  }

  /** The checks that need no credentials: `allowedOrigins` and the address cap (403, 429). */
  admitRequest(req: IncomingMessage): Authenticated {
    const refused = this.#admission.refuseRequest(req, handshakeOf(req));
    if (!refused) return { ok: true, data: undefined };
    this.#logRefusal(req, refused);
    return { ok: false, ...refused };
  }

  /**
   * Admits a request for any transport: `allowedOrigins` and the address cap (403, 429) before
   * `authenticate` runs, the user cap (429) after it (docs/security.md).
   */
  async authenticateRequest(req: IncomingMessage, auth: unknown, admitted = false): Promise<Authenticated> {
    if (!admitted) {
      const refused = this.admitRequest(req);
      if (!refused.ok) return refused;
    }
    const { options, logger } = this.#context;
    let data: unknown;
    if (options.authenticate) {
      try {
        data = await options.authenticate(req, auth);
      } catch (err) {
        logger.debug({ err }, 'authenticate threw');
        data = undefined;
      }
      const expiresAt = expiryOf(data);
      if (data === null || data === undefined || (expiresAt !== undefined && expiresAt <= Date.now())) {
        const refused = { status: 401, code: ErrorCode.Unauthorized, message: 'authentication refused' };
        this.#logRefusal(req, refused);
        return { ok: false, ...refused };
      }
    }
    const refusedUser = this.#admission.refuseUser({ data, handshake: handshakeOf(req) });
    if (refusedUser) {
      this.#logRefusal(req, refusedUser);
      return { ok: false, ...refusedUser };
    }
    return { ok: true, data };
  }

  /**
   * Any open transport: waits for hello (and runs `authenticate` on the credentials in it when
   * they come there), resolves the session for the connection's user, welcomes the connection.
   */
  async acceptTransport(
    transport: ServerTransport,
    codec: Codec,
    opening: Opening,
  ): Promise<ConnectionEngine | undefined> {
    const { options, registry, logger, nodeId, identity } = this.#context;
    const handshake = handshakeOf(opening.req);
    // Connection caps are reserved when the data is known; a race lost since the pre-check closes.
    let admitted = opening.deferred ? undefined : this.#admit(transport, opening.data, handshake);
    if (admitted === null) return undefined;
    let handedOver = false;
    const gate = new HelloGate(transport, codec, options.helloTimeoutMs);
    try {
      const hello = await gate.hello;
      let data = opening.deferred ? undefined : opening.data;
      if (opening.deferred) {
        const auth = await this.authenticateRequest(opening.req, hello.a, true);
        if (gate.closed) return undefined;
        if (!auth.ok) {
          transport.close(closeCodeOf(auth.status), auth.message);
          return undefined;
        }
        data = auth.data;
        admitted = this.#admit(transport, data, handshake);
        if (admitted === null) return undefined;
      }
      const userKey = this.#admission.userOf({ data, handshake });
      const session = await this.#sessions.resolve(hello.sid, hello.sk, userKey);
      if (gate.closed) return undefined;
      if (this.#context.closing()) {
        transport.close(CloseCode.ServerClosing, SHUTTING_DOWN);
        return undefined;
      }
      const engine = new ConnectionEngine({
        id: `${nodeId}.${(++this.#connectionCounter).toString(36)}`,
        sessionId: session.sessionId,
        data,
        transport,
        codec,
        context: this.#context.connections,
        handshake,
        resumePositions: boundedPositions(hello.rooms, options.limits.maxRoomsPerConnection),
        admitted: admitted!,
      });
      engine.handle = handleFor(engine);
      handedOver = true;
      registry.add(engine, session.resumed);
      identity.opened(engine, opening.req);
      transport.events = engine;
      const { intervalMs, timeoutMs } = options.heartbeat;
      engine.send(
        {
          t: 'welcome',
          sid: session.sessionId,
          sk: session.secret,
          cid: engine.id,
          rs: session.resumed ? 1 : 0,
          hb: [intervalMs, timeoutMs],
          mp: options.maxPayload,
        },
        false,
      );
      this.#context.opened(engine, handshake);
      for (const frame of gate.early) engine.onFrame(frame);
      transport.settled?.();
      if (session.resumed) this.#context.resumed(session.sessionId);
      return engine;
    } catch (err) {
      if (!gate.closed) logger.debug({ err }, 'handshake failed');
      return undefined;
    } finally {
      if (!handedOver) admitted?.release();
    }
  }

  /** Reserves the caps of a connection; null (and the transport closed with 4029) when one is full. */
  #admit(transport: ServerTransport, data: unknown, handshake: Handshake): Admitted | null {
    const admitted = this.#admission.admit({ data, handshake });
    if ('release' in admitted) return admitted;
    logRefused(this.#context.logger, admitted, transport.kind, handshake.address);
    transport.close(CloseCode.RateLimited, admitted.message);
    return null;
  }

  /** One log line per refusal, for every transport (docs/observability.md). */
  #logRefusal(req: IncomingMessage, refusal: { status: number; code: string; message: string }): void {
    const where = { origin: req.headers.origin, url: pathnameOf(req.url) };
    logRefused(this.#context.logger, refusal, transportOf(req), req.socket.remoteAddress, where);
  }

  /** Ends the SSE streams and the WebSocket server (connections are closed by then). */
  async close(): Promise<void> {
    this.#sse.close();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

/** The close code that stands for an HTTP refusal once the transport is open (credentials in the hello). */
function closeCodeOf(status: number): number {
  if (status === 401) return CloseCode.Unauthorized;
  if (status === 403) return CloseCode.Forbidden;
  return CloseCode.RateLimited;
}

/** Which way in a request took, for the refusal log. */
function transportOf(req: IncomingMessage): 'websocket' | 'sse' | 'eventsource' {
  if (req.headers.upgrade?.toLowerCase() === 'websocket') return 'websocket';
  return pathnameOf(req.url).endsWith('/events') ? 'eventsource' : 'sse';
}

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
