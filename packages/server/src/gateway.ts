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
import type { Handshake } from './handshake.js';
import { HelloGate } from './hello-gate.js';
import {
  type Authenticated,
  decodeAuthParam,
  handshakeOf,
  pathnameOf,
  refuseUpgrade,
} from './http-endpoint.js';
import { logRefused } from './lifecycle-log.js';
import { Admission } from './limits/admission.js';
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
        authenticateRequest: (req, auth) => this.authenticateRequest(req, auth),
        acceptTransport: (transport, codec, data, handshake) =>
          this.acceptTransport(transport, codec, data, handshake),
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
      if (!logged)
        logRefused(this.#context.logger, { status, code, message }, 'websocket', req.socket.remoteAddress);
      refuseUpgrade(socket, status, code, message);
    };
    if (this.#context.closing()) return refuse(503, ErrorCode.ServerClosing, SHUTTING_DOWN);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!negotiate(offered, this.#codecs)) {
      const names = this.#codecs.map((c) => c.subprotocol).join(', ');
      return refuse(400, ErrorCode.UnsupportedProtocol, `offer one of: ${names}`);
    }
    const auth = await this.#authenticateUpgrade(req);
    // Refusals of `authenticateRequest` were logged there (for every transport).
    if (!auth.ok) return refuse(auth.status, auth.code, auth.message, auth.code !== ErrorCode.BadMessage);
    if (socket.destroyed) return;
    if (this.#context.closing()) return refuse(503, ErrorCode.ServerClosing, SHUTTING_DOWN);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      // ws listens for the socket's errors from now on; ours would stay on every socket for nothing.
      socket.off('error', destroyOnError);
      const codec = negotiate([ws.protocol], this.#codecs) ?? jsonCodec;
      void this.acceptTransport(
        new WebSocketTransport(ws, codec, this.#ws, this.#compressThreshold),
        codec,
        auth.data,
        handshakeOf(req),
      );
    });
  }

  /** A plain HTTP request under `path` that is not the health check: the SSE endpoints. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#sse.handle(req, res);
  }

  /**
   * Admits a request for any transport: `allowedOrigins` and the address cap (403, 429) before
   * `authenticate` runs, the user cap (429) after it (docs/security.md).
   */
  async authenticateRequest(req: IncomingMessage, auth: unknown): Promise<Authenticated> {
    const result = await this.#authenticate(req, auth);
    if (!result.ok) logRefused(this.#context.logger, result, transportOf(req), req.socket.remoteAddress);
    return result;
  }

  async #authenticate(req: IncomingMessage, auth: unknown): Promise<Authenticated> {
    const { options, logger } = this.#context;
    const handshake = handshakeOf(req);
    const refused = this.#admission.refuseRequest(req, handshake);
    if (refused) return { ok: false, ...refused };
    let data: unknown;
    if (options.authenticate) {
      try {
        data = await options.authenticate(req, auth);
      } catch (err) {
        logger.debug({ err }, 'authenticate threw');
        data = undefined;
      }
      if (data === null || data === undefined)
        return { ok: false, status: 401, code: ErrorCode.Unauthorized, message: 'authentication refused' };
    }
    const refusedUser = this.#admission.refuseUser({ data, handshake });
    if (refusedUser) return { ok: false, ...refusedUser };
    return { ok: true, data };
  }

  /** Any open transport: waits for hello, resolves the session, welcomes the connection. */
  async acceptTransport(
    transport: ServerTransport,
    codec: Codec,
    data: unknown,
    handshake: Handshake,
  ): Promise<ConnectionEngine | undefined> {
    const { options, registry, logger, nodeId } = this.#context;
    // Connection caps are reserved here for every transport; a race lost since the pre-check closes.
    const admitted = this.#admission.admit({ data, handshake });
    if (!('release' in admitted)) {
      logRefused(logger, admitted, transport.kind, handshake.address);
      transport.close(CloseCode.RateLimited, admitted.message);
      return undefined;
    }
    let handedOver = false;
    const gate = new HelloGate(transport, codec, options.helloTimeoutMs);
    try {
      const hello = await gate.hello;
      const session = await this.#sessions.resolve(hello.sid, hello.sk);
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
        admitted,
      });
      engine.handle = handleFor(engine);
      handedOver = true;
      registry.add(engine, session.resumed);
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
      if (session.resumed) this.#context.resumed(session.sessionId);
      return engine;
    } catch (err) {
      if (!gate.closed) logger.debug({ err }, 'handshake failed');
      return undefined;
    } finally {
      if (!handedOver) admitted.release();
    }
  }

  /** Ends the SSE streams and the WebSocket server (connections are closed by then). */
  async close(): Promise<void> {
    this.#sse.close();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  async #authenticateUpgrade(req: IncomingMessage): Promise<Authenticated> {
    let auth: unknown;
    try {
      auth = decodeAuthParam(new URL(req.url ?? '/', 'http://localhost').searchParams.get('auth'));
    } catch {
      return {
        ok: false,
        status: 400,
        code: ErrorCode.BadMessage,
        message: 'the auth parameter is not base64url JSON',
      };
    }
    return this.authenticateRequest(req, auth);
  }
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
