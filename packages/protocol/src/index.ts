export { CloseCode, ErrorCode, FATAL_CLOSE_CODES } from './codes.js';
export { TetherError, ProtocolError } from './errors.js';
export type * from './messages.js';
export { assertMessage, MAX_NAME_LENGTH } from './validate.js';
export { type Codec, type Frame, jsonCodec, decodeJsonText, negotiate, JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL } from './codec.js';
export { isReservedEvent, RESERVED_EVENT_PREFIX, PRESENCE_EVENT } from './events.js';
export { PROTOCOL_VERSION, QUERY } from './constants.js';
