/**
 * Close codes and error codes of Tether wire protocol v1.
 *
 * Close codes travel in WebSocket close frames (and in the `bye` message, which the SSE
 * transport uses in place of a close frame). Error codes travel in error replies and become
 * the `code` of the `TetherError` a caller sees. docs/protocol.md lists the same tables.
 */

/** Close codes. 4000-4999 are Tether's own; a few standard ones are reused where they fit. */
export const CloseCode = {
  /** Normal close, asked for by either side. The client does not reconnect after its own close. */
  Normal: 1000,
  /** The peer is going away (a browser leaving the page, a server restarting). Not a drop. */
  GoingAway: 1001,
  /**
   * Never sent: what a receiver reports when the close frame carried no code. Counts as the
   * peer's own choice, not a drop.
   */
  NoStatus: 1005,
  /**
   * Never sent: what a receiver reports when the transport ended without a close frame (a cut
   * TCP connection, an SSE stream that broke, a connect timeout). The client reconnects.
   */
  Abnormal: 1006,
  /** The frame exceeded the negotiated maximum payload (ws enforces this before parsing). */
  MessageTooBig: 1009,
  /** The frame was not a valid Tether message (not decodable, wrong shape). */
  BadMessage: 4000,
  /** The message type is not part of this protocol version. */
  UnknownType: 4001,
  /** The client did not send `hello` in time after the transport opened. */
  HelloTimeout: 4002,
  /** The peer missed its heartbeat deadline. */
  HeartbeatTimeout: 4008,
  /** The connection's outgoing buffer stayed over its limit: the reader is too slow. */
  SlowConsumer: 4009,
  /** The client kept sending faster than its rate limit allows. */
  RateLimited: 4029,
  /**
   * Another connection resumed this session; this one is superseded. The client reconnects with a
   * new session of its own (it does not fight for the old one).
   */
  SessionReplaced: 4409,
  /** A credentials refresh named another user (`userKey`): the client reconnects with a new session. */
  UserChanged: 4411,
  /** The credentials expired and no refresh came in time; the client reconnects (calling `auth` again). */
  AuthExpired: 4440,
  /** Authentication failed or expired. Fatal: the client stops reconnecting. */
  Unauthorized: 4401,
  /** The request's origin or the session is not allowed. Fatal. */
  Forbidden: 4403,
  /** The app disconnected every connection of this user (`tether.user(key).disconnect(reason)`). Fatal. */
  UserDisconnected: 4410,
  /** The server is shutting down or draining; reconnect (elsewhere) after the hinted delay. */
  ServerClosing: 4503,
  /** The server failed internally; reconnect. */
  InternalError: 4500,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a client must not reconnect on its own. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  CloseCode.Unauthorized,
  CloseCode.Forbidden,
  CloseCode.UserDisconnected,
]);

/** Error codes carried by error replies and by every `TetherError`. */
export const ErrorCode = {
  /** The handler threw or rejected; the reply carries its message. Never retried. */
  HandlerError: 'HANDLER_ERROR',
  /** No handler is registered for the event. */
  NoHandler: 'NO_HANDLER',
  /** No reply arrived within the timeout after the last retry. */
  Timeout: 'TIMEOUT',
  /** The connection or client was closed before a reply arrived. */
  Closed: 'CLOSED',
  /** The message could not be decoded or had the wrong shape. */
  BadMessage: 'BAD_MESSAGE',
  /** The message type is unknown to this protocol version. */
  UnknownType: 'UNKNOWN_TYPE',
  /** The payload exceeds the maximum message size. */
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** The event name is reserved (`close`, `error`, `tether:*`) or invalid. */
  ReservedEvent: 'RESERVED_EVENT',
  /** `authorizeJoin` refused the room (or threw). */
  JoinRefused: 'JOIN_REFUSED',
  /** The room name is empty, too long or uses characters outside the allowed set. */
  InvalidRoom: 'INVALID_ROOM',
  /** The connection is in as many rooms as it may be. */
  TooManyRooms: 'TOO_MANY_ROOMS',
  /** Too many messages in too short a time. */
  RateLimited: 'RATE_LIMITED',
  /** Too many concurrent connections from this address or user (HTTP 429 before the upgrade). */
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
  /** Authentication failed. */
  Unauthorized: 'UNAUTHORIZED',
  /** The origin is not allowed. */
  Forbidden: 'FORBIDDEN',
  /** The server is closing and takes no new work. */
  ServerClosing: 'SERVER_CLOSING',
  /** The bus (e.g. Redis) is unavailable, so a publish could not be made durable. */
  BusUnavailable: 'BUS_UNAVAILABLE',
  /** The offline buffer was full; the message was dropped. */
  BufferFull: 'BUFFER_FULL',
  /** The subprotocol is missing or unsupported (or its codec needs a package not installed: msgpackr). */
  UnsupportedProtocol: 'UNSUPPORTED_PROTOCOL',
  /** An unexpected server fault. */
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Error codes that only HTTP answers under `path` carry (the SSE endpoints and the plain
 * EventSource), beside the {@link ErrorCode}s they share. Kept apart so the browser client,
 * which never makes them, does not ship them.
 */
export const HttpErrorCode = {
  /** No stream has this token (malformed, or never issued). HTTP 404. */
  UnknownStream: 'UNKNOWN_STREAM',
  /** The stream this token named has ended: open a new one. HTTP 410. */
  StreamClosed: 'STREAM_CLOSED',
  /** The node holding the stream did not answer the forwarded POST in time. HTTP 504. */
  StreamUnreachable: 'STREAM_UNREACHABLE',
  /** The method is not used at this URL under `path`. HTTP 405. */
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  /** Nothing at this URL under `path`. HTTP 404. */
  NotFound: 'NOT_FOUND',
  /** A plain HTTP request where a WebSocket upgrade (or `?transport=sse`) was expected. HTTP 426. */
  UpgradeRequired: 'UPGRADE_REQUIRED',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];
