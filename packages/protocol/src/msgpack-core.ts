import { type Codec, type Frame, MSGPACK_SUBPROTOCOL } from './codec.js';
import { CloseCode, ErrorCode } from './codes.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { assertMessage } from './validate.js';

/**
 * The part of the `msgpackr` module the codec uses. Described here rather than imported, so no
 * declaration file of a Tether package names msgpackr: an app that stays on JSON type-checks
 * without it installed.
 */
export interface MsgpackLibrary {
  Packr: new (options: object) => { pack(value: unknown): Uint8Array };
  Unpackr: new (options: object) => { unpack(data: Uint8Array): unknown };
}

/**
 * The binary codec (`tether.v1.msgpack`) on a given msgpackr module. Payloads may hold bytes
 * (`Uint8Array`, a `Buffer` on Node) and `Date`s: msgpack's bin type and timestamp extension
 * carry them, and they arrive as a `Uint8Array` (a `Buffer` on Node) and a `Date`. The module is
 * passed in so that each entry point decides how msgpackr is loaded: a static import for
 * bundlers (`msgpack-codec.ts`), an optional `require` on Node (`msgpack-node.ts`).
 *
 * @example
 * import * as msgpackr from 'msgpackr';
 * const codec = createMsgpackCodec(msgpackr);
 */
export function createMsgpackCodec(msgpackr: MsgpackLibrary): Codec {
  // Plain maps, no records or structure extensions: every msgpack implementation reads the
  // frames, and a peer cannot make us define shared structures.
  const packr = new msgpackr.Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false });
  const unpackr = new msgpackr.Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
  return {
    subprotocol: MSGPACK_SUBPROTOCOL,
    binary: true,
    encode: (message: Message): Frame => packr.pack(message),
    decode: (frame) => decode(unpackr, frame),
  };
}

function decode(unpackr: { unpack(data: Uint8Array): unknown }, frame: Frame | ArrayBuffer): Message {
  if (typeof frame === 'string') {
    throw new ProtocolError(ErrorCode.BadMessage, 'msgpack frames are binary', CloseCode.BadMessage);
  }
  let value: unknown;
  try {
    value = unpackr.unpack(frame instanceof Uint8Array ? frame : new Uint8Array(frame));
  } catch (err) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `not a msgpack message: ${(err as Error).message}`,
      CloseCode.BadMessage,
    );
  }
  // The same checks as JSON (prototype keys, depth, plain objects only, bytes and dates as
  // leaves): a request whose payload fails them is refused by id, not by closing.
  return assertMessage(value);
}
