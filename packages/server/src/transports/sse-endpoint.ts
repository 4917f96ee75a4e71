import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CloseCode,
  type Codec,
  ErrorCode,
  fromWirePosition,
  HttpErrorCode,
  type JoinResult,
  jsonCodec,
  type Logger,
  type RoomPosition,
  type TetherError,
} from '@tether/protocol';
import type { Bus } from '../bus.js';
import type { ConnectionEngine } from '../connection-engine.js';
import {
  type Authenticated,
  CREDENTIALS_IN_URL,
  credentialsPlace,
  type Opening,
  refuseRequest,
} from '../http-endpoint.js';
import type { ResolvedOptions } from '../options.js';
import { validateRoomName } from '../room-name.js';
import type { EventMap } from '../typed-events.js';
import { SseTransport } from './sse.js';
import { type Handover, PostForwarder, type StreamPost } from './sse-forward.js';
import { decodePositions, NativeEvent, NativeSseTransport } from './sse-native.js';
import type { SseOptions } from './sse-options.js';
import { formatToken, parseToken, readBody, splitFrames } from './sse-post.js';
import { acceptsGzip, SseStream } from './sse-stream.js';
import type { ServerTransport } from './transport.js';

export type { SseOptions };

/** What the endpoint needs from the server: the gateway's accept path and the rooms' join policy. */
export interface SseContext {
  readonly nodeId: string;
  readonly options: ResolvedOptions<EventMap, unknown>;
  readonly logger: Logger;
  readonly bus: Bus;
  closing(): boolean;
  /** The checks that need no credentials (origin, address cap), for a client that sends them in its hello. */
  admitRequest(req: IncomingMessage): Authenticated;
  authenticateRequest(req: IncomingMessage, auth: unknown): Promise<Authenticated>;
  acceptTransport(
    transport: ServerTransport,
    codec: Codec,
    opening: Opening,
  ): Promise<ConnectionEngine | undefined>;
  /** The join policy every client join goes through. */
  authorize(engine: ConnectionEngine, room: string): Promise<TetherError | undefined>;
  join(
    engine: ConnectionEngine,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult>;
  registerNodeMessage(kind: string, handler: (payload: Record<string, unknown>) => void): void;
}

/** HTTP answer to a POST or DELETE, per outcome (`ok` depends on where the stream is). */
const REFUSALS: Record<Exclude<Handover, 'ok'>, [status: number, code: string, message: string]> = {
  unknown: [404, HttpErrorCode.UnknownStream, 'no stream has this token'],
  gone: [410, HttpErrorCode.StreamClosed, 'the stream has ended: open a new one'],
  timeout: [504, HttpErrorCode.StreamUnreachable, 'the node holding the stream did not answer'],
  unavailable: [503, ErrorCode.BusUnavailable, 'the bus could not reach the node holding the stream'],
  closing: [503, ErrorCode.ServerClosing, 'server is shutting down'],
};

/**
 * Every SSE endpoint under `path`:
 *
 * - `GET {path}?transport=sse` opens the Tether client's stream; its first event names a token.
 * - `POST {path}?transport=sse&token=T` carries client messages (one JSON message per line).
 * - `DELETE {path}?transport=sse&token=T` is the client's close.
 * - `GET {path}/events?room=a&room=b` is the one-way stream for a plain `EventSource`.
 *
 * No sticky sessions: a POST or DELETE that lands on a node other than the stream's is forwarded
 * over the bus to the node the token names, which checks the token and answers.
 *
 * @example
 * const sse = new SseEndpoint(tether, { compress: 'native' });
 * tether.requestHandler = sse.handle;
 */
export class SseEndpoint {
  readonly #host: SseContext;
  readonly #compress: boolean | 'native';
  readonly #streams = new Map<number, { transport: SseTransport; secret: Buffer }>();
  readonly #open = new Set<SseTransport | NativeSseTransport>();
  readonly #forwarder: PostForwarder;
  #streamCounter = 0;
  #closed = false;

  constructor(host: SseContext, options: SseOptions = {}) {
    this.#host = host;
    this.#compress = options.compress ?? 'native';
    this.#forwarder = new PostForwarder(host, (post) => this.#handOver(post));
  }

  /** Routes one plain HTTP request at or under `path`. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = this.#host.options.path;
    const rest = path === '/' ? url.pathname : url.pathname.slice(path.length);
    const run = (work: Promise<void>) =>
      work.catch((err) => {
        this.#host.logger.error({ err }, 'SSE request failed');
        refuseRequest(res, 500, ErrorCode.Internal, 'internal error');
      });
    if (rest === '/events') {
      if (req.method === 'GET') void run(this.#openNative(req, res, url));
      else refuseRequest(res, 405, HttpErrorCode.MethodNotAllowed, 'use GET', { allow: 'GET' });
      return;
    }
    if (rest !== '' && rest !== '/') {
      refuseRequest(res, 404, HttpErrorCode.NotFound, `nothing at ${url.pathname}`);
      return;
    }
    if (url.searchParams.get('transport') !== 'sse') {
      refuseRequest(
        res,
        426,
        HttpErrorCode.UpgradeRequired,
        'connect with a WebSocket upgrade, or add ?transport=sse',
      );
      return;
    }
    switch (req.method) {
      case 'GET':
        void run(this.#openStream(req, res, url));
        return;
      case 'POST':
      case 'DELETE':
        void run(this.#post(req, res, url));
        return;
      default:
        refuseRequest(res, 405, HttpErrorCode.MethodNotAllowed, 'use GET, POST or DELETE', {
          allow: 'GET, POST, DELETE',
        });
    }
  };

  /** Ends every stream still open (those not yet welcomed, mostly) and answers waiting POSTs. */
  close(): void {
    this.#closed = true;
    for (const transport of [...this.#open]) transport.terminate();
    this.#forwarder.close();
  }

  // ---- the Tether client's stream --------------------------------------------------------------

  async #openStream(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.#refuseWhileClosing(res)) return;
    const protocol = url.searchParams.get('protocol');
    if (protocol && protocol !== jsonCodec.subprotocol) {
      return refuseRequest(
        res,
        400,
        ErrorCode.UnsupportedProtocol,
        `the SSE transport speaks ${jsonCodec.subprotocol} only`,
      );
    }
    const place = credentialsPlace(req.url);
    if (place === 'url') return refuseRequest(res, 400, ErrorCode.BadMessage, CREDENTIALS_IN_URL);
    // Credentials in the hello (a POST body): only the checks that need none run now.
    const result =
      place === 'hello' ? this.#host.admitRequest(req) : await this.#host.authenticateRequest(req, undefined);
    if (!result.ok) return refuseRequest(res, result.status, result.code, result.message);
    // The client may have left while `authenticate` ran: then there is nothing to open.
    if (req.socket.destroyed || res.destroyed || this.#refuseWhileClosing(res)) return;

    const number = ++this.#streamCounter;
    const secret = randomBytes(18).toString('base64url');
    const token = formatToken({ nodeId: this.#host.nodeId, stream: number, secret });
    const stream = new SseStream(res, { gzip: this.#compress === true && acceptsGzip(req) });
    const transport = new SseTransport(stream, { token, maxPost: this.#host.options.maxPayload });
    this.#streams.set(number, { transport, secret: Buffer.from(secret) });
    this.#track(transport, () => this.#streams.delete(number));
    await this.#host.acceptTransport(
      transport,
      jsonCodec,
      place === 'hello' ? { req, deferred: true } : { req, deferred: false, data: result.data },
    );
  }

  async #post(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const token = parseToken(url.searchParams.get('token'));
    if (!token) return refuseRequest(res, 404, HttpErrorCode.UnknownStream, 'no stream has this token');
    // DELETE is the client's close; `code` stands for the WebSocket close code it would have sent.
    const close = req.method === 'DELETE' ? clientCloseCode(url.searchParams.get('code')) : undefined;
    let frames: string[] = [];
    if (close === undefined) {
      const body = await readBody(req, this.#host.options.maxPayload);
      if (!body.ok) {
        if (body.reason === 'too-large') {
          return refuseRequest(
            res,
            413,
            ErrorCode.PayloadTooLarge,
            `the body exceeds ${this.#host.options.maxPayload} bytes`,
            {
              connection: 'close',
            },
          );
        }
        return;
      }
      const split = splitFrames(body.body);
      if (!split.ok) return refuseRequest(res, 400, ErrorCode.BadMessage, split.message);
      frames = split.frames;
    } else {
      req.resume();
    }
    const post: StreamPost = { stream: token.stream, secret: token.secret, frames, close };
    const local = token.nodeId === this.#host.nodeId;
    const outcome = local ? this.#handOver(post) : await this.#forwarder.forward(token.nodeId, post);
    if (outcome === 'ok') {
      // While draining, the client's next request opens a new connection, which a load balancer
      // sends to another node (a kept-alive one would stay with this node).
      res.writeHead(local ? 204 : 202, this.#host.closing() ? { connection: 'close' } : {}).end();
      return;
    }
    const [status, code, message] = REFUSALS[outcome];
    refuseRequest(res, status, code, message);
  }

  /** Gives frames to a stream of this node after checking the token's secret. */
  #handOver(post: StreamPost): Handover {
    const entry = this.#streams.get(post.stream);
    if (!entry) return post.stream <= this.#streamCounter ? 'gone' : 'unknown';
    const secret = Buffer.from(post.secret);
    if (secret.length !== entry.secret.length || !timingSafeEqual(secret, entry.secret)) return 'unknown';
    if (entry.transport.closed) return 'gone';
    entry.transport.receive(post.frames);
    if (post.close !== undefined) entry.transport.closedByClient(post.close);
    return 'ok';
  }

  // ---- plain EventSource ----------------------------------------------------------------------

  async #openNative(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.#refuseWhileClosing(res)) return;
    const rooms = [...new Set(url.searchParams.getAll('room'))];
    if (rooms.length === 0)
      return refuseRequest(res, 400, ErrorCode.InvalidRoom, 'name at least one room: ?room=a&room=b');
    // Refused now, not after the stream began: a browser would otherwise reconnect to it forever.
    const maxRooms = this.#host.options.limits.maxRoomsPerConnection;
    if (rooms.length > maxRooms)
      return refuseRequest(res, 400, ErrorCode.TooManyRooms, `at most ${maxRooms} rooms per stream`);
    for (const room of rooms) {
      const invalid = validateRoomName(room);
      if (invalid) return refuseRequest(res, 400, invalid.code, `"${room}": ${invalid.message}`);
    }
    const auth = await this.#host.authenticateRequest(req, undefined);
    if (!auth.ok) return refuseRequest(res, auth.status, auth.code, auth.message);
    // The client may have left while `authenticate` ran: then there is nothing to open.
    if (req.socket.destroyed || res.destroyed || this.#refuseWhileClosing(res)) return;

    const lastEventId = req.headers['last-event-id'];
    const positions = decodePositions(typeof lastEventId === 'string' ? lastEventId : undefined, rooms);
    const stream = new SseStream(res, { gzip: this.#compress !== false && acceptsGzip(req) });
    const transport = new NativeSseTransport(stream, positions, this.#host.options.maxBufferedBytes);
    this.#track(transport);
    const accepted = this.#host.acceptTransport(transport, jsonCodec, {
      req,
      deferred: false,
      data: auth.data,
    });
    // A plain EventSource sends no hello: the endpoint says it on its behalf (no session to resume).
    transport.events?.onFrame(jsonCodec.encode({ t: 'hello' }));
    const conn = await accepted;
    if (!conn) return refuseRequest(res, 503, ErrorCode.ServerClosing, 'the stream could not be opened');

    for (const room of rooms) {
      const refused = await this.#host.authorize(conn, room);
      if (conn.closed)
        return refuseRequest(res, 503, ErrorCode.ServerClosing, 'the stream closed while opening');
      if (refused?.code === ErrorCode.JoinRefused) {
        conn.close(CloseCode.Forbidden, refused.message);
        return refuseRequest(res, 403, ErrorCode.JoinRefused, refused.message);
      }
      if (refused) {
        conn.close(CloseCode.ServerClosing, refused.message);
        return refuseRequest(
          res,
          refused.code === ErrorCode.ServerClosing ? 503 : 400,
          refused.code,
          refused.message,
        );
      }
    }

    transport.start();
    for (const room of rooms) {
      const since = positions.get(room);
      try {
        await this.#host.join(conn, room, fromWirePosition(since), (result) => {
          if (since && result.rec === 1) return; // the missed messages follow, each moving the position on
          transport.setPosition(room, result.ep, result.off);
          if (since) transport.writeControl(NativeEvent.recoveryFailed, { room });
        });
      } catch (err) {
        this.#host.logger.warn({ err, room }, 'EventSource join failed');
        conn.close(CloseCode.InternalError, 'join failed');
        return;
      }
    }
    transport.writeControl(NativeEvent.ready, { rooms }, true);
  }

  // ---- shared ---------------------------------------------------------------------------------

  #track(transport: SseTransport | NativeSseTransport, onGone?: () => void): void {
    this.#open.add(transport);
    transport.onGone = () => {
      this.#open.delete(transport);
      onGone?.();
    };
  }

  #refuseWhileClosing(res: ServerResponse): boolean {
    if (!this.#closed && !this.#host.closing()) return false;
    // The retry must not come back on this kept-alive connection: a load balancer moves a new one.
    refuseRequest(res, 503, ErrorCode.ServerClosing, 'server is shutting down', { connection: 'close' });
    return true;
  }
}

/** The close code a DELETE names: 1000 unless a valid code (1000-4999) is given. */
function clientCloseCode(value: string | null): number {
  const code = Number(value ?? CloseCode.Normal);
  return Number.isInteger(code) && code >= 1000 && code <= 4999 ? code : CloseCode.Normal;
}
