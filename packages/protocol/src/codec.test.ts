import { describe, expect, it } from 'vitest';
import { jsonCodec, negotiate, trustingJsonCodec } from './codec.js';
import { CloseCode } from './codes.js';
import type { ProtocolError } from './errors.js';
import { msgpackCodec } from './msgpack-codec.js';
import { assertMessage } from './validate.js';

function decodeError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('JSON codec', () => {
  it('round-trips every message type', () => {
    const messages = [
      { t: 'hello', sid: 'a', sk: 'b', rooms: { r: ['ep', 3] } },
      { t: 'welcome', sid: 'a', sk: 'b', cid: 'c', rs: 1, hb: [25_000, 20_000], mp: 1_048_576 },
      { t: 'evt', e: 'x', d: { n: 1 } },
      { t: 'req', id: 'i', e: 'x', d: [1, 2] },
      { t: 'req', id: 'j', e: 'x', d: 1, rt: 1, ak: ['g', 'h'] },
      { t: 'res', id: 'i', d: null },
      { t: 'err', id: 'i', c: 'HANDLER_ERROR', m: 'no' },
      { t: 'join', id: 'i', r: 'room', ep: 'e', off: 4 },
      { t: 'leave', r: 'room' },
      { t: 'msg', r: 'room', e: 'x', d: 1, ep: 'e', off: 5, v: 1 },
      { t: 'joined', r: 'room', ep: 'e', off: 5, rec: 0 },
      { t: 'left', r: 'room' },
      { t: 'ping' },
      { t: 'pong' },
      { t: 'bye', c: 4503, m: 'bye', rt: 5_000 },
    ];
    for (const message of messages) {
      expect(jsonCodec.decode(jsonCodec.encode(message as never))).toEqual(message);
      expect(msgpackCodec.decode(msgpackCodec.encode(message as never))).toEqual(message);
    }
  });

  it('rejects non-JSON, wrong shapes and unknown types with the documented close codes', () => {
    expect(decodeError(() => jsonCodec.decode('nope')).closeCode).toBe(CloseCode.BadMessage);
    expect(decodeError(() => jsonCodec.decode('[]')).code).toBe('BAD_MESSAGE');
    expect(decodeError(() => jsonCodec.decode('{"t":"req","id":1,"e":"x"}')).code).toBe('BAD_MESSAGE');
    expect(decodeError(() => jsonCodec.decode('{"t":"msg","r":"a","e":"x","ep":"e","off":1.5}')).code).toBe(
      'BAD_MESSAGE',
    );
    expect(
      decodeError(() => jsonCodec.decode('{"t":"join","id":"i","r":"a","off":9007199254740993}')).code,
    ).toBe('BAD_MESSAGE');
    const tooManyAcks = JSON.stringify({
      t: 'req',
      id: 'i',
      e: 'x',
      ak: Array.from({ length: 65 }, (_, i) => `r${i}`),
    });
    expect(decodeError(() => jsonCodec.decode(tooManyAcks)).code).toBe('BAD_MESSAGE');
    expect(decodeError(() => jsonCodec.decode('{"t":"req","id":"i","e":"x","ak":"r1"}')).code).toBe(
      'BAD_MESSAGE',
    );
    expect(decodeError(() => jsonCodec.decode('{"t":"req","id":"i","e":"x","ak":[""]}')).code).toBe(
      'BAD_MESSAGE',
    );
    const unknown = decodeError(() => jsonCodec.decode('{"t":"nuke"}'));
    expect([unknown.code, unknown.closeCode]).toEqual(['UNKNOWN_TYPE', CloseCode.UnknownType]);
    expect(decodeError(() => jsonCodec.decode('{"t":"toString"}')).code).toBe('UNKNOWN_TYPE');
    expect(decodeError(() => jsonCodec.decode(new Uint8Array([0xff, 0xfe]))).code).toBe('BAD_MESSAGE');
  });

  it('refuses __proto__ keys anywhere, so payloads cannot pollute prototypes', () => {
    const err = decodeError(() => jsonCodec.decode('{"t":"evt","e":"x","d":{"a":{"__proto__":{"bad":1}}}}'));
    expect(err.code).toBe('BAD_MESSAGE');
    expect(({} as Record<string, unknown>).bad).toBeUndefined();
  });

  it('negotiates the first offered subprotocol the server supports', () => {
    expect(negotiate(['tether.v1.msgpack', 'tether.v1.json'], [jsonCodec])).toBe(jsonCodec);
    expect(negotiate(['tether.v1.msgpack', 'tether.v1.json'], [jsonCodec, msgpackCodec])).toBe(msgpackCodec);
    expect(negotiate(['graphql-ws'], [jsonCodec])).toBeUndefined();
  });
});

describe('binary values', () => {
  it('pass validation as leaves (bytes, dates) while other class instances are still refused', () => {
    const frame = msgpackCodec.encode({
      t: 'evt',
      e: 'up',
      d: { b: new Uint8Array([1, 2]), at: new Date(5) },
    });
    const message = msgpackCodec.decode(frame) as { d: { b: Uint8Array; at: Date } };
    expect(new Uint8Array(message.d.b)).toEqual(new Uint8Array([1, 2]));
    expect(message.d.at.getTime()).toBe(5);
    expect(() => assertMessage({ t: 'evt', e: 'up', d: new Map() })).toThrow(/only plain objects/);
  });

  it('the client codec refuses bytes instead of writing them as an object', () => {
    expect(() => trustingJsonCodec.encode({ t: 'evt', e: 'up', d: { b: new Uint8Array([1]) } })).toThrow(
      /JSON cannot carry binary data/,
    );
    expect(() => trustingJsonCodec.encode({ t: 'evt', e: 'up', d: new ArrayBuffer(2) })).toThrow(
      /JSON cannot carry binary data/,
    );
  });
});
