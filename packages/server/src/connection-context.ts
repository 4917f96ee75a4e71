import type {
  Codec,
  ErrorReplyMessage,
  Frame,
  JoinMessage,
  JoinResult,
  Logger,
  Message,
  ProtocolError,
  ReplyMessage,
  RoomPosition,
} from '@tether/protocol';
import type { BroadcastOperator } from './broadcast.js';
import type { CoarseClock } from './heartbeat.js';
import type { Metrics } from './metrics.js';
import type { RequestOptions } from './send-options.js';
import type { EventMap } from './typed-events.js';

/**
 * What an engine asks of the server's parts (`Engine` is `ConnectionEngine`, kept a parameter so
 * this file imports nothing of it): a small object the server builds once and shares
 * with every connection (the rooms, requests and registry parts answer behind it). Tests build
 * their own.
 */
export interface ConnectionContext<Engine> {
  /** Below this many buffered bytes a frame goes straight to the transport. */
  readonly lowWaterBytes: number;
  /** A congested connection past 4x this is a slow consumer. */
  readonly maxBufferedBytes: number;
  readonly counters: Metrics;
  readonly logger: Logger;
  /** Coarse clock kept by the heartbeat sweep. */
  readonly clock: CoarseClock;
  /** The ping frame of a codec, encoded once. */
  pingFrame(codec: Codec): Frame;
  /**
   * A client event, request or credentials refresh (`inbound-hooks.ts`), or a message a client may not
   * send: a promise holds the connection's later frames until it settles; an error closes it.
   */
  inbound(engine: Engine, message: Message): Promise<void> | ProtocolError | undefined;
  /** The client's reply to a server request (settles it only for a request of its session). */
  reply(engine: Engine, message: ReplyMessage | ErrorReplyMessage): void;
  /** A client join, answered by the join policy; resolves once answered (never rejects). */
  clientJoin(engine: Engine, message: JoinMessage): Promise<void>;
  /** Joins without authorization (server-side joins, and joins the policy allowed). */
  join(
    engine: Engine,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult>;
  leave(engine: Engine, room: string): Promise<void>;
  /** A server-to-client request with ack and retries. */
  requestClient(engine: Engine, event: string, data: unknown, options: RequestOptions): Promise<unknown>;
  broadcast(room: string): BroadcastOperator<EventMap>;
  /** The transport is gone (`reason`: why, as the close listeners get it): forget the connection everywhere. */
  closed(engine: Engine, code: number, reason: string): void;
}
