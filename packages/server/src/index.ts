export {
  CloseCode,
  type Codec,
  ErrorCode,
  TetherError,
  type TetherErrorCode,
} from '@tether/protocol';
export { configureTracing, type TraceWriter } from '@tether/protocol/trace';
export { BroadcastOperator, type BroadcastOptions } from './broadcast.js';
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
export {
  Connection,
  type ConnectionHandshake,
  type ConnectionState,
  type EmitOptions,
  type Handshake,
  type RequestOptions,
} from './connection.js';
export type { InboundHook } from './inbound-hooks.js';
export {
  ackWindow,
  checkClaimOptions,
  checkLimit,
  checkUserId,
  DEFAULT_DEAD_LETTER_TTL_MS,
  DEFAULT_INBOX_DEDUP_WINDOW_MS,
  DEFAULT_NOTIFICATION_TTL_MS,
  type DeadLetter,
  type DeadLetterQuery,
  type Inbox,
  type InboxAckOptions,
  type InboxClaim,
  type InboxClaimOptions,
  InboxError,
  type InboxErrorCode,
  type InboxListener,
  type InboxNotification,
  type InboxNotifyOptions,
  type InboxNotifyResult,
  type InboxRetention,
  type InboxSubscription,
  MAX_NOTIFICATION_ID_LENGTH,
  type NotifyRequest,
  notifyRequest,
  type UndeliveredReason,
} from './inbox.js';
export type { Instrumentation, JoinSpanInfo, PublishSpanInfo, RequestSpanInfo } from './instrumentation.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export { MemoryInbox, type MemoryInboxOptions } from './memory-inbox.js';
export type { MetricsSnapshot } from './metrics.js';
export type { OfflineNotification, UndeliveredNotification } from './notification-delivery.js';
export type { NotificationOptions } from './notification-options.js';
export type { NodeReport, OperationsOptions } from './operations.js';
export type { Logger, TetherServerOptions } from './options.js';
export { LocalOutcomeStore, type Outcome, type OutcomeStore } from './outcome-store.js';
export type { UndeliveredMessage } from './outgoing-requests.js';
export { validateRoomName } from './room-name.js';
export { TetherEmitter, type TetherEmitterOptions } from './tether-emitter.js';
export {
  type CloseOptions,
  type HealthReport,
  TetherServer,
  type TetherServerEvents,
} from './tether-server.js';
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
export { UserOperator } from './user-directory.js';
export type { DeadLetters } from './users.js';
export { withExpiry } from './with-expiry.js';
