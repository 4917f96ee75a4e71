export { TetherServer, type TetherServerEvents, type CloseOptions } from './tether-server.js';
export { Connection, type ConnectionState, type EmitOptions, type RequestOptions, type Handshake } from './connection.js';
export { BroadcastOperator, type BroadcastOptions } from './broadcast.js';
export type { TetherServerOptions, Logger } from './options.js';
export type {
  Bus,
  BusLink,
  BusNode,
  BusStatus,
  Delivery,
  HistoryPage,
  HistoryPolicy,
  PresenceMember,
  Publication,
  PublishResult,
  RoomPosition,
} from './bus.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export type { MetricsSnapshot } from './metrics.js';
export type { UndeliveredMessage } from './outgoing-requests.js';
export type { EventMap, UnknownEvents, EventName, EventData, EventReply } from './typed-events.js';
export { validateRoomName } from './room-name.js';
export { TetherError, ErrorCode, CloseCode, type Codec } from '@tether/protocol';
