import { CloseCode, ErrorCode } from './codes.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';

/** Longest event name, id and room name the protocol carries. Longer ones are bad frames. */
export const MAX_NAME_LENGTH = 256;

/**
 * Deepest nesting of arrays and objects in one message (the message object is level 1). Deeper
 * values parse fine but crash recursive code downstream (`JSON.stringify` of an echoed payload
 * overflows the stack near 10 000 levels), so they are refused at the edge.
 */
export const MAX_DEPTH = 64;

/** Most reply acknowledgements one request may carry (`ak`). */
export const MAX_ACKS = 64;

type Field = 'str' | 'str?' | 'name' | 'names?' | 'int' | 'int?' | 'any' | 'flag?' | 'positions?' | 'hb';
type Shape = Record<string, Field>;

// One table instead of a validator per type: adding a message type is one line here.
const SHAPES: Record<Message['t'], Shape> = {
  hello: { sid: 'str?', sk: 'str?', rooms: 'positions?', a: 'any' },
  welcome: { sid: 'str', sk: 'str', cid: 'str', rs: 'int', hb: 'hb', mp: 'int' },
  evt: { e: 'name', d: 'any', n: 'str?' },
  req: { id: 'name', e: 'name', d: 'any', rt: 'flag?', ak: 'names?' },
  res: { id: 'name', d: 'any' },
  err: { id: 'name', c: 'str', m: 'str' },
  join: { id: 'name', r: 'name', ep: 'str?', off: 'int?' },
  leave: { r: 'name' },
  msg: {
    r: 'name',
    e: 'name',
    d: 'any',
    ep: 'str?',
    off: 'int',
    v: 'flag?',
    o: 'flag?',
    k: 'str?',
    p: 'int?',
  },
  joined: { r: 'name', ep: 'str', off: 'int', rec: 'flag?' },
  left: { r: 'name', c: 'str?' },
  ping: {},
  pong: {},
  bye: { c: 'int', m: 'str', rt: 'int?', mv: 'flag?' },
  gap: { r: 'name', ep: 'str', off: 'int' },
  reauth: { x: 'int' },
  auth: { id: 'name', a: 'any' },
  rej: { e: 'name', c: 'str', m: 'str' },
};

function bad(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.BadMessage, message, CloseCode.BadMessage);
}

function isPosition(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'string' &&
    Number.isSafeInteger(value[1]) &&
    (value[1] as number) >= 0
  );
}

function checkField(kind: Field, value: unknown): boolean {
  switch (kind) {
    case 'any':
      return true;
    case 'str':
      return typeof value === 'string' && value.length <= MAX_NAME_LENGTH * 4;
    case 'str?':
      return value === undefined || (typeof value === 'string' && value.length <= MAX_NAME_LENGTH * 4);
    case 'name':
      return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH;
    case 'names?':
      return (
        value === undefined ||
        (Array.isArray(value) && value.length <= MAX_ACKS && value.every((item) => checkField('name', item)))
      );
    case 'int':
      return Number.isSafeInteger(value) && (value as number) >= 0;
    case 'int?':
      return value === undefined || (Number.isSafeInteger(value) && (value as number) >= 0);
    case 'flag?':
      return value === undefined || value === 0 || value === 1;
    case 'hb':
      return (
        Array.isArray(value) && value.length === 2 && value.every((n) => Number.isSafeInteger(n) && n >= 0)
      );
    case 'positions?': {
      if (value === undefined) return true;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      for (const key in value) if (!isPosition((value as Record<string, unknown>)[key])) return false;
      return true;
    }
  }
}

/**
 * Checks that a decoded value is a well-formed message and returns it typed. Throws
 * `ProtocolError` (BAD_MESSAGE or UNKNOWN_TYPE, with the close code to use) otherwise. When the
 * value is a request envelope (`t: 'req'` with a valid `id`), the error carries that `requestId`:
 * what is wrong is that request's content, to be answered with an error reply, not the
 * connection's framing.
 *
 * @example
 * const msg = assertMessage(JSON.parse(text));
 */
export function assertMessage(value: unknown): Message {
  // The request id is looked for only when something is wrong: most frames are fine.
  let message: Message;
  try {
    message = assertShape(value);
  } catch (err) {
    const requestId = requestIdOf(value);
    if (requestId === undefined) throw err;
    throw refusedRequest((err as Error).message, requestId);
  }
  const problem = structureProblem(message, 1);
  if (problem) {
    const requestId = requestIdOf(value);
    throw requestId === undefined ? bad(problem) : refusedRequest(problem, requestId);
  }
  return message;
}

/** The `id` of a request envelope: an object with `t: 'req'` and an `id` the protocol accepts. */
function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { t, id } = value as { t?: unknown; id?: unknown };
  return t === 'req' && checkField('name', id) ? (id as string) : undefined;
}

function refusedRequest(problem: string, requestId: string): ProtocolError {
  return new ProtocolError(ErrorCode.BadMessage, problem, CloseCode.BadMessage, requestId);
}

/**
 * The shape checks of `assertMessage` without the walk through the payload (depth, prototype
 * keys): for frames from a peer the receiver trusts, i.e. a client reading its own server.
 *
 * @example
 * const msg = assertShape(JSON.parse(text));
 */
export function assertShape(value: unknown): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('a message is an object');
  const type = (value as { t?: unknown }).t;
  if (typeof type !== 'string') throw bad('a message needs a string "t"');
  const shape = Object.hasOwn(SHAPES, type) ? SHAPES[type as Message['t']] : undefined;
  if (!shape)
    throw new ProtocolError(
      ErrorCode.UnknownType,
      `unknown message type "${type.slice(0, 32)}"`,
      CloseCode.UnknownType,
    );
  for (const field in shape) {
    if (!checkField(shape[field]!, (value as Record<string, unknown>)[field])) {
      throw bad(`"${type}" has a bad "${field}"`);
    }
  }
  return value as Message;
}

/**
 * True for the two non-plain values a decoded payload may hold: bytes (a `Uint8Array`, or a
 * `Buffer`, which msgpack decodes bin to on Node) and dates (msgpack's timestamp). They are leaves:
 * nothing inside them is walked. JSON never produces either.
 *
 * @example
 * isBinaryLeaf(new Uint8Array(2)); // true
 */
export function isBinaryLeaf(value: object): boolean {
  return value instanceof Uint8Array || value instanceof Date;
}

/**
 * Walks a decoded value once (only into arrays and objects, so large strings and number arrays
 * cost little) and names the first thing a message may not hold: nesting past `MAX_DEPTH`, a
 * `__proto__` key, a `constructor` object with a `prototype` key (the two shapes that pollute
 * prototypes in code that deep-merges payloads), or an object that is not a plain one. Checking
 * the parsed keys, not the text, also catches escaped spellings such as `"\u005f_proto__"`.
 */
function structureProblem(value: object, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `nesting deeper than ${MAX_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) {
        const problem = structureProblem(item, depth + 1);
        if (problem) return problem;
      }
    }
    return undefined;
  }
  if (isBinaryLeaf(value)) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    return 'only plain objects, arrays, bytes and dates are allowed';
  // for-in over own keys, not Object.keys: the same keys without an array per object walked.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item: unknown = (value as Record<string, unknown>)[key];
    if (key === '__proto__') return '"__proto__" keys are not allowed';
    if (typeof item === 'object' && item !== null) {
      if (key === 'constructor' && Object.hasOwn(item, 'prototype'))
        return '"constructor.prototype" keys are not allowed';
      const problem = structureProblem(item, depth + 1);
      if (problem) return problem;
    }
  }
  return undefined;
}
