import type { AuthMessage, ReauthMessage, RefusedMessage } from './identity-messages.js';
import type { PresenceMember } from './presence.js';
/**
 * Message shapes of Tether wire protocol v1. Every frame (WebSocket message, SSE event data,
 * SSE upstream POST body) is exactly one of these objects. Field names are short because
 * they are on every frame; docs/protocol.md spells them out.
 *
 * Direction: C = client to server, S = server to client.
 */

/** Position in a room's history: the epoch names one history lineage, offsets count within it. */
export type Position = readonly [epoch: string, offset: number];

/** C: first frame after the transport opens. Resumes a session and names server-joined rooms' positions. */
export interface HelloMessage {
  t: 'hello';
  /** Session id to resume, with its secret key. Both or neither. */
  sid?: string;
  sk?: string;
  /** Last positions seen in rooms the server joined this session to, for recovery on the new connection. */
  rooms?: Record<string, Position>;
  /** The client's credentials (its `auth` option), never in the URL; see "Credentials and refresh". */
  a?: unknown;
}

/** S: the handshake answer; the connection is open once the client has it. */
export interface WelcomeMessage {
  t: 'welcome';
  /** Session id and the secret that resumes it. */
  sid: string;
  sk: string;
  /** The connection's id on the server (`conn.id`). */
  cid: string;
  /** 1 when the offered session was resumed, 0 when a new one began. */
  rs: 0 | 1;
  /** Heartbeat interval and timeout in ms: the client expects traffic within their sum. */
  hb: readonly [interval: number, timeout: number];
  /** Largest frame in bytes the server accepts. */
  mp: number;
}

/** C, S: fire-and-forget event. */
export interface EventMessage {
  t: 'evt';
  e: string;
  d?: unknown;
  /** S only: the id of a durable notification; the client acknowledges it (`tether:ack`) once its listeners ran. */
  n?: string;
}

/** C, S: an event that wants a reply. `id` stays the same on every retry. */
export interface RequestMessage {
  t: 'req';
  id: string;
  e: string;
  d?: unknown;
  /** 1 on every send after the first (retry, resend after a reconnect): only these can meet an earlier run. */
  rt?: 1;
  /**
   * Ids of this client's earlier requests whose replies it got since its previous request (at
   * most `MAX_ACKS`). It never sends those again, so the server may forget their outcomes now
   * instead of at the end of the dedup window.
   */
  ak?: string[];
  /**
   * Trace context of the caller (a propagator's carrier, e.g. `{ traceparent }`): the server's
   * OpenTelemetry entry continues the trace in the handler. At most 8 string entries; a server
   * ignores a malformed one.
   */
  tc?: Record<string, string>;
}

/** C, S: the reply to a request. */
export interface ReplyMessage {
  t: 'res';
  id: string;
  d?: unknown;
}

/** C, S: an error reply; `c` is an error code, `m` a human message. Never retried. */
export interface ErrorReplyMessage {
  t: 'err';
  id: string;
  c: string;
  m: string;
}

/** C: join a room; with `ep` + `off`, resume after that position (recovery). Answered by `res` or `err`. */
export interface JoinMessage {
  t: 'join';
  id: string;
  r: string;
  ep?: string;
  off?: number;
}

/** The `d` of the reply to a join, and of `joined`. */
export interface JoinResult {
  /** The room's epoch and its latest offset at the moment of the join. */
  ep: string;
  off: number;
  /** Present when a position was offered: 1 when every missed message follows, 0 when history did not reach back. */
  rec?: 0 | 1;
}

/** C: leave a room. No reply. */
export interface LeaveMessage {
  t: 'leave';
  r: string;
}

/** S: a message published to a room this connection is in. */
export interface RoomMessage {
  t: 'msg';
  r: string;
  e: string;
  d?: unknown;
  /**
   * The room's epoch, only when it differs from the last one this connection was told for the
   * room (in `joined` or an earlier `msg`): broadcasts leave it out, so one frame serves everyone.
   */
  ep?: string;
  off: number;
  /** 1 for a volatile message: not in history, `off` repeats the last durable offset. */
  v?: 1;
  /**
   * 1 when this message overtook older messages of the same room on this connection (urgent, or
   * a conflated value that replaced a queued one): its offset is remembered but does not move the
   * resume position, and the older ones still follow. See docs/messaging.md.
   */
  o?: 1;
  /** Conflation key of a latest-value-wins message: an older offset with the same event and key is stale. */
  k?: string;
  /**
   * The offset of the room's previous in-order message on this connection, only when it is not
   * `off - 1` (the server skipped offsets for this connection on purpose: `except`, a replaced
   * conflated value, a loss it reported with `gap`). Without it the client expects `off - 1`; any
   * other jump is a gap it recovers (docs/protocol.md, "Gaps").
   */
  p?: number;
}

/**
 * S: messages of room `r` were lost between the client's position and the next message of the
 * room, and could not be recovered from history: the client reports the failed recovery before
 * that message. `ep` and `off` are the room's position when the loss was found.
 */
export interface GapMessage {
  t: 'gap';
  r: string;
  ep: string;
  off: number;
}

/**
 * The `d` of a `tether:presence` room message (volatile, not in history). `reconnect`: a member
 * whose connection dropped came back on a new connection within the grace period; no `leave` or
 * `join` was announced, and `previousConnId` is the id it replaces.
 */
export type PresenceChange =
  | { type: 'join' | 'leave'; member: PresenceMember }
  | { type: 'reconnect'; member: PresenceMember; previousConnId: string };

/** S: the server joined this connection to a room (server-side join). */
export interface JoinedMessage extends JoinResult {
  t: 'joined';
  r: string;
}

/** S: the server removed this connection from a room. */
export interface LeftMessage {
  t: 'left';
  r: string;
  /** Why, when the client did not ask: `JOIN_REFUSED` when a credentials refresh lost it the room. */
  c?: string;
}

/** S: heartbeat probe; C answers `pong`. */
export interface PingMessage {
  t: 'ping';
}

/** C: heartbeat answer. */
export interface PongMessage {
  t: 'pong';
}

/** S: close hint sent before the server closes: the close code, a reason, and a reconnect spread. */
export interface ByeMessage {
  t: 'bye';
  c: number;
  m: string;
  /** Reconnect within a random delay in [0, rt] ms, so a node's clients do not all return at once. */
  rt?: number;
  /** 1: move now: open a new connection, and close this one once the new one is welcomed. */
  mv?: 1;
}

export type ClientMessage =
  | HelloMessage
  | EventMessage
  | RequestMessage
  | ReplyMessage
  | ErrorReplyMessage
  | JoinMessage
  | LeaveMessage
  | PongMessage
  | AuthMessage;

export type ServerMessage =
  | WelcomeMessage
  | EventMessage
  | RequestMessage
  | ReplyMessage
  | ErrorReplyMessage
  | RoomMessage
  | JoinedMessage
  | LeftMessage
  | PingMessage
  | ByeMessage
  | ReauthMessage
  | RefusedMessage
  | GapMessage;

export type { AuthMessage, ReauthMessage, RefusedMessage };
export type Message = ClientMessage | ServerMessage;
export type MessageType = Message['t'];
