export type { TetherClientOptions, ClientEmitOptions } from './tether-client.js';
export type { ClientState } from './state.js';
export type { BackoffOptions } from './backoff.js';
export type { ClientRequestOptions } from './pending-requests.js';
export { Room, type MessageMeta, type PresenceMember, type RejoinInfo, type RoomState } from './room.js';
export type { EventMap, UnknownEvents, EventName, EventData, EventReply } from './typed-events.js';
export type { TransportKind } from './transports/transport.js';
export { TetherError, ErrorCode, CloseCode, type Codec } from '@tether/protocol';
