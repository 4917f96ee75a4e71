import type { RoomMessage } from '@tether/protocol';
import { describe, expect, it } from 'vitest';
import { RoomCursor } from './room-cursor.js';

const m = (off: number, extra: Partial<RoomMessage> = {}): RoomMessage => ({
  t: 'msg',
  r: 'r',
  e: 'e',
  ep: 'ep',
  off,
  ...extra,
});

function run(cursor: RoomCursor, messages: RoomMessage[]): number[] {
  return messages.filter((message) => cursor.admit(message)).map((message) => message.off);
}

describe('RoomCursor', () => {
  it('admits in-order messages once and moves the position', () => {
    const c = new RoomCursor();
    c.reset('ep', 2);
    expect(run(c, [m(1), m(3), m(3), m(4)])).toEqual([3, 4]);
    expect(c.offset).toBe(4);
  });

  it('never compares or moves on volatile messages', () => {
    const c = new RoomCursor();
    c.reset('ep', 5);
    expect(run(c, [m(5, { v: 1 }), m(5, { v: 1 })])).toEqual([5, 5]);
    expect(c.offset).toBe(5);
  });

  it('admits an urgent message that overtook older ones, keeps the position, and drops its replay', () => {
    const c = new RoomCursor();
    c.reset('ep', 7);
    // Wire order: 10 (it overtook 8 and 9), then 8.
    expect(run(c, [m(10, { o: 1 }), m(8)])).toEqual([10, 8]);
    expect(c.offset).toBe(8);
    // The connection drops here; the rejoin resumes after 8 and history replays 9, 10, 11.
    expect(run(c, [m(9), m(10), m(11)])).toEqual([9, 11]);
    expect(c.offset).toBe(11);
  });

  it('keeps the newest conflated value across a replay of older ones', () => {
    const c = new RoomCursor();
    c.reset('ep', 4);
    // 7 replaced 5 in the server's queue and went ahead of 6.
    expect(run(c, [m(7, { o: 1, e: 'loc', k: 'd7' })])).toEqual([7]);
    // Dropped before 6 arrived: the replay from 4 brings 5, 6, 7; 5 is stale, 7 was seen.
    expect(run(c, [m(5, { e: 'loc', k: 'd7' }), m(6), m(7, { e: 'loc', k: 'd7' })])).toEqual([6]);
    expect(c.offset).toBe(7);
    expect(run(c, [m(8, { e: 'loc', k: 'd7' })])).toEqual([8]);
  });

  it('starts over on a new epoch', () => {
    const c = new RoomCursor();
    c.reset('old', 50);
    expect(run(c, [m(1, { ep: 'new' }), m(2, { ep: 'new' })])).toEqual([1, 2]);
    expect(c.epoch).toBe('new');
  });
});

describe('RoomCursor.gapBefore', () => {
  const at = (offset: number) => {
    const c = new RoomCursor();
    c.reset('ep', offset);
    return c;
  };

  it('sees a jump past the next offset as a gap, and the next offset as none', () => {
    expect(at(4).gapBefore(m(5, { ep: undefined }))).toBe(false);
    expect(at(4).gapBefore(m(7, { ep: undefined }))).toBe(true);
  });

  it('takes the previous offset the server names (p) instead of off - 1', () => {
    expect(at(4).gapBefore(m(7, { ep: undefined, p: 4 }))).toBe(false);
    expect(at(4).gapBefore(m(7, { ep: undefined, p: 5 }))).toBe(true);
  });

  it('never counts duplicates, volatile, overtaking or new-epoch messages, or a cursor with no position', () => {
    expect(at(4).gapBefore(m(3, { ep: undefined }))).toBe(false);
    expect(at(4).gapBefore(m(9, { ep: undefined, v: 1 }))).toBe(false);
    expect(at(4).gapBefore(m(9, { ep: undefined, o: 1 }))).toBe(false);
    expect(at(4).gapBefore(m(9, { ep: 'other' }))).toBe(false);
    expect(new RoomCursor().gapBefore(m(9, { ep: undefined }))).toBe(false);
  });
});
