import type {
  Codec,
  ErrorReplyMessage,
  Frame,
  JoinMessage,
  JoinResult,
  Logger,
  ReplyMessage,
  RequestMessage,
} from '@tether/protocol';
import type { BroadcastOperator } from './broadcast.js';
import type { RoomPosition } from './bus.js';
import type { Connection, RequestOptions } from './connection.js';
import type { CoarseClock } from './heartbeat.js';
import type { Metrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import type { EventMap } from './typed-events.js';

/**
 * What a connection asks of the server that owns it. Keeps `Connection` free of bus, index and
 * dedup details, and lets the server's pieces be tested on their own.
 */
export interface ConnectionHost {
  // biome-ignore lint/suspicious/noExplicitAny: the host serves connections of every event map and data type.
  readonly options: ResolvedOptions<EventMap, any>;
  readonly counters: Metrics;
  readonly logger: Logger;
  /** Coarse clock kept by the heartbeat sweep. */
  readonly clock: CoarseClock;
  pingFrame(codec: Codec): Frame;
  handleRequestMessage(conn: Connection<EventMap, unknown>, message: RequestMessage): void;
  handleReply(message: ReplyMessage | ErrorReplyMessage): void;
  /** Resolves once the join is answered (never rejects). */
  handleJoin(conn: Connection<EventMap, unknown>, message: JoinMessage): Promise<void>;
  joinRoom(
    conn: Connection<EventMap, unknown>,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult>;
  leaveRoom(conn: Connection<EventMap, unknown>, room: string): Promise<void>;
  requestClient(
    conn: Connection<EventMap, unknown>,
    event: string,
    data: unknown,
    options: RequestOptions,
  ): Promise<unknown>;
  broadcast(room: string): BroadcastOperator<EventMap>;
  connectionClosed(conn: Connection<EventMap, unknown>, code: number): void;
}
