import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Codec, jsonCodec } from './codec.js';
import { CloseCode, ErrorCode } from './codes.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { msgpackCodec } from './msgpack-codec.js';
import { assertMessage, MAX_DEPTH } from './validate.js';

// The decoder's whole contract, checked on hostile input: it returns a well-formed message or
// throws a ProtocolError carrying a documented code and close code. Nothing else escapes.

type Outcome = { ok: true; message: Message } | { ok: false; error: ProtocolError };

function decode(codec: Codec, frame: string | Uint8Array): Outcome {
  try {
    return { ok: true, message: codec.decode(frame) };
  } catch (error) {
    // Anything other than a ProtocolError fails the property right here.
    expect(error).toBeInstanceOf(ProtocolError);
    const { code, closeCode } = error as ProtocolError;
    expect([ErrorCode.BadMessage, ErrorCode.UnknownType]).toContain(code);
    expect([CloseCode.BadMessage, CloseCode.UnknownType]).toContain(closeCode);
    return { ok: false, error: error as ProtocolError };
  }
}

function expectWellFormed(outcome: Outcome): void {
  if (!outcome.ok) return;
  const { message } = outcome;
  expect(typeof message).toBe('object');
  expect(Object.getPrototypeOf(message)).toBe(Object.prototype);
  // A returned message passes validation again: the decoder never hands out half-checked values.
  expect(() => assertMessage(message)).not.toThrow();
}

/** True when a value holds one of the keys the decoder refuses (checked independently of it). */
function hasForbiddenShape(value: unknown, depth = 1): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > MAX_DEPTH) return true;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (key === '__proto__') return true;
    if (
      key === 'constructor' &&
      typeof item === 'object' &&
      item !== null &&
      Object.hasOwn(item, 'prototype')
    )
      return true;
    if (hasForbiddenShape(item, depth + 1)) return true;
  }
  return false;
}

const name = fc.string({ minLength: 1, maxLength: 24 });
const int = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const payload = fc.option(fc.jsonValue({ maxDepth: 5 }), { nil: undefined });
const position = fc.tuple(fc.string({ maxLength: 12 }), int);

/** Every message type of protocol v1 with valid fields. */
const validMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record(
    {
      t: fc.constant('hello' as const),
      sid: fc.string({ maxLength: 30 }),
      sk: fc.string({ maxLength: 30 }),
      rooms: fc.dictionary(name, position, { maxKeys: 4 }),
    },
    { requiredKeys: ['t'] },
  ),
  fc.record({
    t: fc.constant('welcome' as const),
    sid: fc.string(),
    sk: fc.string(),
    cid: fc.string(),
    rs: fc.constantFrom(0, 1),
    hb: fc.tuple(int, int),
    mp: int,
  }),
  fc.record({ t: fc.constant('evt' as const), e: name, d: payload }),
  fc.record({ t: fc.constant('req' as const), id: name, e: name, d: payload }),
  fc.record({ t: fc.constant('res' as const), id: name, d: payload }),
  fc.record({ t: fc.constant('err' as const), id: name, c: fc.string(), m: fc.string() }),
  fc.record(
    { t: fc.constant('join' as const), id: name, r: name, ep: fc.string(), off: int },
    { requiredKeys: ['t', 'id', 'r'] },
  ),
  fc.record({ t: fc.constant('leave' as const), r: name }),
  fc.record(
    {
      t: fc.constant('msg' as const),
      r: name,
      e: name,
      d: payload,
      ep: fc.string(),
      off: int,
      v: fc.constant(1 as const),
    },
    { requiredKeys: ['t', 'r', 'e', 'ep', 'off'] },
  ),
  fc.record({ t: fc.constant('ping' as const) }),
  fc.record({ t: fc.constant('pong' as const) }),
  fc.record(
    { t: fc.constant('bye' as const), c: int, m: fc.string(), rt: int },
    { requiredKeys: ['t', 'c', 'm'] },
  ),
) as fc.Arbitrary<Message>;

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      // Bytes that mean something to a JSON or msgpack parser are more interesting than noise.
      fc.constantFrom(
        ...['{', '[', '"', '\\', ',', ':', '}', ']', '"__proto__"', '1e999', '\\u0000'].map((s) =>
          new TextEncoder().encode(s),
        ),
      ),
      fc.constantFrom(new Uint8Array([0xdc, 0xff, 0xff]), new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff])),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out: Uint8Array = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.kind) {
      case 'flip':
        if (out.length > 0) out[at % out.length] = m.byte;
        break;
      case 'insert':
        out = concat(out.subarray(0, at), m.bytes, out.subarray(at));
        break;
      case 'delete':
        out = concat(out.subarray(0, at), out.subarray(at + m.length));
        break;
      case 'repeat':
        out = concat(
          out.subarray(0, at + m.length),
          out.subarray(at, at + m.length),
          out.subarray(at + m.length),
        );
        break;
    }
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const toBytes = (frame: string | Uint8Array) =>
  typeof frame === 'string' ? new TextEncoder().encode(frame) : frame;

// Thousands of generated cases per test: seconds on a quiet machine, several times that on a busy
// one. The limit only catches a hang; it is not a speed check.
const FUZZ_TIMEOUT_MS = 120_000;

describe('JSON decoder under fuzzing', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('round-trips valid messages, except those carrying refused keys', () => {
    fc.assert(
      fc.property(validMessage, (message) => {
        const outcome = decode(jsonCodec, jsonCodec.encode(message));
        expectWellFormed(outcome);
        if (hasForbiddenShape(message)) expect(outcome.ok).toBe(false);
        else if (outcome.ok) expect(outcome.message).toEqual(JSON.parse(JSON.stringify(message)));
        else throw outcome.error;
      }),
      { numRuns: 1_500 },
    );
  });

  it('returns a valid message or throws ProtocolError for byte-mutated valid frames', () => {
    fc.assert(
      fc.property(validMessage, fc.array(mutation, { minLength: 1, maxLength: 6 }), (message, mutations) => {
        const bytes = mutate(toBytes(jsonCodec.encode(message)), mutations);
        expectWellFormed(decode(jsonCodec, bytes));
        // The same bytes as a text frame (what ws hands over after its own UTF-8 check).
        expectWellFormed(decode(jsonCodec, new TextDecoder().decode(bytes)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns a valid message or throws ProtocolError for random JSON values and random text', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        expectWellFormed(decode(jsonCodec, JSON.stringify(value) ?? 'null'));
        // The same value as a message payload: only depth and refused keys can reject it.
        const outcome = decode(jsonCodec, JSON.stringify({ t: 'evt', e: 'x', d: value }));
        expect(outcome.ok).toBe(!hasForbiddenShape({ t: 'evt', d: value }));
      }),
      { numRuns: 1_000 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.uint8Array()), (frame) => {
        expectWellFormed(decode(jsonCodec, frame));
      }),
      { numRuns: 1_000 },
    );
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} levels, however it is built`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.constantFrom('array', 'object', 'mixed'),
        (levels, style) => {
          let open = '';
          let close = '';
          for (let i = 0; i < levels; i++) {
            const array = style === 'array' || (style === 'mixed' && i % 2 === 0);
            open += array ? '[' : '{"k":';
            close = (array ? ']' : '}') + close;
          }
          const outcome = decode(jsonCodec, `{"t":"evt","e":"x","d":${open}1${close}}`);
          // The message object is level 1, so the payload may nest MAX_DEPTH - 1 levels.
          expect(outcome.ok).toBe(levels + 1 <= MAX_DEPTH);
          if (!outcome.ok) expect(outcome.error.closeCode).toBe(CloseCode.BadMessage);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses prototype-polluting keys, escaped or not, anywhere in the message', () => {
    const frames = [
      '{"t":"evt","e":"x","d":{"__proto__":{"polluted":1}}}',
      '{"t":"evt","e":"x","d":{"\\u005f_proto__":{"polluted":1}}}',
      '{"t":"evt","e":"x","d":{"\\u005F\\u005Fproto\\u005F\\u005F":{"polluted":1}}}',
      '{"t":"evt","e":"x","d":[{"a":{"constructor":{"prototype":{"polluted":1}}}}]}',
      '{"t":"evt","e":"x","d":{"constructor":{"\\u0070rototype":{"polluted":1}}}}',
      '{"t":"hello","rooms":{"__proto__":["e",1]}}',
      '{"t":"req","id":"1","e":"x","__proto__":{"polluted":1}}',
    ];
    for (const frame of frames) {
      const outcome = decode(jsonCodec, frame);
      expect(outcome.ok, frame).toBe(false);
      if (!outcome.ok) expect(outcome.error.code).toBe(ErrorCode.BadMessage);
    }
    // Harmless look-alikes still pass: a "constructor" string, a "prototype" key on its own.
    expect(decode(jsonCodec, '{"t":"evt","e":"x","d":{"constructor":"x","prototype":{}}}').ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts huge and odd numbers only where the protocol allows any value', () => {
    expect(
      decode(jsonCodec, '{"t":"evt","e":"x","d":[1e999,-1e999,123456789012345678901234567890]}').ok,
    ).toBe(true);
    for (const off of ['1e999', '-1', '1.5', '9007199254740993', '"1"', 'null']) {
      expect(decode(jsonCodec, `{"t":"join","id":"1","r":"a","ep":"e","off":${off}}`).ok, off).toBe(false);
    }
  });
});

describe('msgpack decoder under fuzzing', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('round-trips valid messages and survives byte mutations', () => {
    fc.assert(
      fc.property(validMessage, fc.array(mutation, { minLength: 0, maxLength: 6 }), (message, mutations) => {
        const frame = msgpackCodec.encode(message) as Uint8Array;
        const outcome = decode(msgpackCodec, mutate(frame, mutations));
        expectWellFormed(outcome);
        if (mutations.length === 0 && !hasForbiddenShape(message)) expect(outcome.ok).toBe(true);
      }),
      { numRuns: 1_500 },
    );
  });

  it('returns a valid message or throws ProtocolError for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expectWellFormed(decode(msgpackCodec, bytes));
      }),
      { numRuns: 2_000 },
    );
  });
});
