import { CloseCode, ErrorCode } from './codes.js';
import { ProtocolError, TetherError } from './errors.js';
import type { Message, RoomMessage } from './messages.js';
import { assertMessage, assertShape, MAX_DEPTH } from './validate.js';

/** What a transport carries: text for JSON, bytes for msgpack. */
export type Frame = string | Uint8Array;

/**
 * Turns messages into frames and back. One instance per format, shared by every connection:
 * codecs hold no per-connection state.
 *
 * @example
 * const frame = jsonCodec.encode({ t: 'evt', e: 'hi', d: 1 });
 * const msg = jsonCodec.decode(frame);
 */
export interface Codec {
  /** The WebSocket subprotocol that selects this codec. */
  readonly subprotocol: string;
  /** True when frames are binary. */
  readonly binary: boolean;
  encode(message: Message): Frame;
  /** Decodes and validates one frame. Throws `ProtocolError` for anything that is not a message. */
  decode(frame: Frame | ArrayBuffer): Message;
}

export const JSON_SUBPROTOCOL = 'tether.v1.json';
export const MSGPACK_SUBPROTOCOL = 'tether.v1.msgpack';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses JSON text into a validated message. Shared by the JSON codec and the SSE POST path. */
export function decodeJsonText(text: string): Message {
  let parsed: unknown;
  try {
    // JSON.parse makes "__proto__" an own key (no pollution by itself), but user code that merges
    // payloads with Object.assign or a deep merge would then set a prototype: assertMessage
    // refuses such keys (also escaped ones), and nesting past MAX_DEPTH, on the parsed value.
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(
      ErrorCode.BadMessage,
      `not a JSON message: ${(err as Error).message}`,
      CloseCode.BadMessage,
    );
  }
  return assertMessage(parsed);
}

function toText(frame: Frame | ArrayBuffer): string {
  if (typeof frame === 'string') return frame;
  try {
    return utf8.decode(frame);
  } catch {
    throw new ProtocolError(ErrorCode.BadMessage, 'frame is not valid UTF-8', CloseCode.BadMessage);
  }
}

/**
 * True when a value holds bytes anywhere JSON would reach (down to `MAX_DEPTH`; deeper messages
 * are refused by the server anyway). A walk of its own instead of a `JSON.stringify` replacer: a
 * replacer takes V8 off its fast path and costs every send about as much again as the stringify.
 */
function holdsBinary(value: object, depth: number): boolean {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null && holdsBinary(item, depth + 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && holdsBinary(item, depth + 1)) return true;
  }
  return false;
}

function stringifyRefusingBinary(message: Message): string {
  if (holdsBinary(message, 0))
    throw new TetherError(
      ErrorCode.BadMessage,
      'JSON cannot carry binary data: use the msgpack codec (@tether/client/msgpack) or send base64 text',
    );
  return JSON.stringify(message);
}

/** The default codec: one JSON object per text frame (`tether.v1.json`). */
export const jsonCodec: Codec = {
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  encode: (message) => JSON.stringify(message),
  decode: (frame) => decodeJsonText(toText(frame)),
};

/**
 * The JSON codec as the client uses it: the same wire format, shapes checked, but no walk through
 * each payload's structure (nesting depth, prototype keys). That walk guards a server against
 * hostile clients; a client reads its own server, and every message it skips the walk for is
 * one fewer pass over broadcast payloads, in a smaller bundle.
 *
 * @example
 * new TetherClient(url, { codec: trustingJsonCodec }); // the default
 */
export const trustingJsonCodec: Codec = {
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  // The client's sends go through here: refuse bytes rather than let JSON turn them into
  // {"0":1,...}, which the server would hand to the app as a plain object.
  encode: stringifyRefusingBinary,
  decode(frame) {
    const text = toText(frame);
    try {
      const message = JSON.parse(text) as RoomMessage;
      // Room messages are nearly all a client reads: checked for the offset its position
      // tracking relies on, not field by field.
      return message?.t === 'msg' && Number.isSafeInteger(message.off) ? message : assertShape(message);
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError(
        ErrorCode.BadMessage,
        `not a JSON message: ${(err as Error).message}`,
        CloseCode.BadMessage,
      );
    }
  },
};

/**
 * Picks the codec for a WebSocket handshake: the first subprotocol the client offered that the
 * server supports (the client lists its preference first). Undefined when none matches.
 *
 * @example
 * const codec = negotiate(['tether.v1.msgpack', 'tether.v1.json'], [jsonCodec]); // jsonCodec
 */
export function negotiate(offered: Iterable<string>, supported: readonly Codec[]): Codec | undefined {
  for (const name of offered) {
    const codec = supported.find((c) => c.subprotocol === name);
    if (codec) return codec;
  }
  return undefined;
}
