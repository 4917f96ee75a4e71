import { describe, expect, it } from 'vitest';
import { hashTag, keySlot } from './slot.js';

describe('keySlot', () => {
  it('matches CLUSTER KEYSLOT', () => {
    // Values from redis-cli CLUSTER KEYSLOT on Redis 7.0.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('hello')).toBe(866);
    expect(keySlot('123456789')).toBe(0x31c3 % 16384);
  });

  it('hashes only the hash tag', () => {
    expect(keySlot('tether:{foo}:ch')).toBe(keySlot('foo'));
    expect(keySlot('a{foo}b{bar}')).toBe(keySlot('foo'));
    expect(hashTag('x{}y')).toBe('x{}y');
    expect(hashTag('x{y')).toBe('x{y');
    expect(hashTag('é{ü}')).toBe('ü');
    expect(keySlot('é')).toBe(keySlot('{é}x'));
  });
});
