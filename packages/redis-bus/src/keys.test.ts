import { describe, expect, it } from 'vitest';
import { KeySpace, validatePrefix } from './keys.js';

// The CRC16 hash slot Redis Cluster computes, to prove that a room's keys share one slot.
function slot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('KeySpace', () => {
  const keys = new KeySpace('tether:');

  it('names every key of a room with the room as hash tag', () => {
    const room = keys.room('order:42');
    expect(room).toMatchObject({
      meta: 'tether:{order:42}:meta',
      log: 'tether:{order:42}:log',
      presence: 'tether:{order:42}:presence',
      channel: 'tether:{order:42}:ch',
    });
    expect(room.dedup('evt-1')).toBe('tether:{order:42}:dedup:evt-1');
  });

  it('puts all of a room (channel included) in one cluster slot, whatever the (non-empty) room name', () => {
    for (const name of ['order:42', 'a}b', '{x}', 'é', 'x'.repeat(256)]) {
      const room = keys.room(name);
      const slots = new Set([room.meta, room.log, room.presence, room.channel, room.dedup('id')].map(slot));
      expect(slots.size).toBe(1);
    }
  });

  it('names node, bus and value keys with their own tags', () => {
    expect(keys.nodeAlive('n1')).toBe('tether:node:{n1}:alive');
    expect(keys.nodeChannel('n1')).toBe('tether:node:{n1}:ch');
    expect(keys.busChannel('b1')).toBe('tether:bus:{b1}:ch');
    expect(keys.kv('session:9')).toBe('tether:kv:{session:9}');
    expect(slot(keys.nodeAlive('n1'))).toBe(slot(keys.nodeChannel('n1')));
  });

  it('refuses a prefix that would move the hash tag', () => {
    expect(() => validatePrefix('a{b')).toThrow(TypeError);
    expect(() => new KeySpace('x}')).toThrow(TypeError);
    expect(new KeySpace('app:').prefix).toBe('app:');
  });
});
