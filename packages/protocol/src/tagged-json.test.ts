import { describe, expect, it } from 'vitest';
import { parseTagged, stringifyTagged } from './tagged-json.js';

describe('tagged JSON', () => {
  it('gives back bytes and dates at any depth, and plain values unchanged', () => {
    const value = {
      file: new Uint8Array([0, 1, 254, 255]),
      at: new Date('2026-12-05T12:00:00.000Z'),
      list: [new Uint8Array(0), { when: new Date(0) }, 'text', 3, null, true],
      plain: { a: [1, { b: 'c' }] },
    };
    const back = parseTagged(stringifyTagged(value)) as typeof value;
    expect(back).toEqual(value);
    expect(back.file).toBeInstanceOf(Uint8Array);
    expect(back.at).toBeInstanceOf(Date);
    expect((back.list[1] as { when: Date }).when.getTime()).toBe(0);
  });

  it('keeps a slice of a larger buffer to its own bytes', () => {
    const whole = new Uint8Array([9, 9, 1, 2, 3, 9]);
    expect(parseTagged(stringifyTagged(whole.subarray(2, 5)))).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('writes plain values as JSON does, and undefined as null', () => {
    const plain = { a: 1, b: ['x', { c: null }], d: 'two words' };
    expect(stringifyTagged(plain)).toBe(JSON.stringify(plain));
    expect(stringifyTagged(undefined)).toBe('null');
  });

  it('leaves objects that only look like tags alone when they have other keys', () => {
    const lookalike = { '$tether:bytes': 'AQI=', other: 1 };
    expect(parseTagged(stringifyTagged(lookalike))).toEqual(lookalike);
  });

  it('keeps an invalid date invalid', () => {
    const back = parseTagged(stringifyTagged({ at: new Date(Number.NaN) })) as { at: Date };
    expect(back.at).toBeInstanceOf(Date);
    expect(Number.isNaN(back.at.getTime())).toBe(true);
  });
});
