import { Packr, Unpackr } from 'msgpackr';
import { type Codec, type Frame, MSGPACK_SUBPROTOCOL } from './codec.js';
import { CloseCode, ErrorCode } from './codes.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { assertMessage } from './validate.js';

// Plain maps, no records or structure extensions: every msgpack implementation reads the
// frames, and a peer cannot make us define shared structures.
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Binary codec (`tether.v1.msgpack`) on msgpackr. Payloads may hold bytes (`Uint8Array`, a
 * `Buffer` on Node) and `Date`s: msgpack's bin type and timestamp extension carry them, and they
 * arrive as a `Uint8Array` (a `Buffer` on Node) and a `Date`. Lives behind its own import path so that
 * JSON-only bundles do not carry msgpackr.
 *
 * @example
 * import { msgpackCodec } from '@tether/client/msgpack';
 * new TetherClient(url, { codec: msgpackCodec });
 */
export const msgpackCodec: Codec = {
  subprotocol: MSGPACK_SUBPROTOCOL,
  binary: true,
  encode: (message: Message): Frame => packr.pack(message),
  decode(frame) {
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
  },
};
