export {
  type Codec,
  decodeJsonText,
  type Frame,
  JSON_SUBPROTOCOL,
  jsonCodec,
  MSGPACK_SUBPROTOCOL,
  negotiate,
  trustingJsonCodec,
} from './codec.js';
export { CloseCode, ErrorCode, FATAL_CLOSE_CODES, HttpErrorCode } from './codes.js';
export { PROTOCOL_VERSION, QUERY } from './constants.js';
export { ProtocolError, TetherError, type TetherErrorCode } from './errors.js';
export { isReservedEvent, PRESENCE_EVENT, RESERVED_EVENT_PREFIX } from './events.js';
export type { Logger } from './logger.js';
export type * from './messages.js';
export { fromWirePosition, type RoomPosition, toWirePosition } from './position.js';
export type { PresenceMember } from './presence.js';
export { parseTagged, stringifyTagged } from './tagged-json.js';
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
export { assertMessage, MAX_ACKS, MAX_DEPTH, MAX_NAME_LENGTH } from './validate.js';
