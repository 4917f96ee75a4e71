export { CloseCode, type Codec, ErrorCode, TetherError, type TetherErrorCode } from '@tether/protocol';
export type { BackoffOptions } from './backoff.js';
export type { EmitArgs, RequestArgs } from './client-args.js';
export type { ClientEmitOptions, DisconnectReason, TetherClientOptions } from './client-options.js';
export type { NotificationMeta } from './notifications.js';
export type { ClientRequestOptions } from './pending-requests.js';
export type { Persistence, TetherStorage } from './persistence-types.js';
export {
  type LeftInfo,
  type MessageMeta,
  type PresenceEvent,
  type PresenceMember,
  type RejoinInfo,
  Room,
  type RoomState,
} from './room.js';
export type { ClientState } from './state.js';
export type { TransportKind } from './transports/transport.js';
export type {
  ClientEventName,
  EventData,
  EventMap,
  EventName,
  EventReply,
  PayloadArgs,
  PresenceData,
  ServerEventName,
  TypedPresenceMember,
  UnknownEvents,
} from './typed-events.js';
