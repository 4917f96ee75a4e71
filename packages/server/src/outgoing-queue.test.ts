import { describe, expect, it } from 'vitest';
import type { Delivery } from './bus.js';
import { OutgoingQueue } from './outgoing-queue.js';

const msg = (offset: number, extra: Partial<Delivery> = {}): Delivery => ({
  room: 'r',
  event: 'e',
  data: offset,
  epoch: 'ep',
  offset,
  ...extra,
});

function drain(queue: OutgoingQueue): Array<{ frame: unknown; overtakes: boolean }> {
  const out = [];
  for (let e = queue.shift(); e; e = queue.shift()) out.push({ frame: e.frame, overtakes: e.overtakes });
  return out;
}

describe('OutgoingQueue', () => {
  it('keeps order within a lane and sends urgent frames first', () => {
    const q = new OutgoingQueue();
    q.push('n1', 2, false, undefined, msg(1));
    q.push('n2', 2, false, undefined, msg(2));
    q.push('u3', 2, true, undefined, msg(3));
    q.push('ctl', 3, false, undefined, undefined);
    expect(q.length).toBe(4);
    expect(q.bytes).toBe(9);
    expect(drain(q)).toEqual([
      { frame: 'u3', overtakes: true },
      { frame: 'n1', overtakes: false },
      { frame: 'n2', overtakes: false },
      { frame: 'ctl', overtakes: false },
    ]);
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('does not mark an urgent frame that overtakes nothing of its room', () => {
    const q = new OutgoingQueue();
    q.push('other', 1, false, undefined, msg(1, { room: 'other' }));
    q.push('u', 1, true, undefined, msg(2));
    expect(drain(q).map((e) => e.overtakes)).toEqual([false, false]);
  });

  it('replaces a conflated frame in place and marks it when newer frames of its room queued behind it', () => {
    const q = new OutgoingQueue();
    q.push('loc5', 4, false, 'r\0loc\0d7', msg(5));
    q.push('chat6', 5, false, undefined, msg(6));
    q.push('loc7', 6, false, 'r\0loc\0d7', msg(7));
    q.push('loc8', 6, false, 'r\0loc\0d8', msg(8));
    expect(q.length).toBe(3);
    expect(q.bytes).toBe(17);
    expect(drain(q)).toEqual([
      { frame: 'loc7', overtakes: true },
      { frame: 'chat6', overtakes: false },
      { frame: 'loc8', overtakes: false },
    ]);
  });

  it('does not mark a replacement that stays in order', () => {
    const q = new OutgoingQueue();
    q.push('a1', 1, false, 'r\0loc\0a', msg(1));
    q.push('a2', 1, false, 'r\0loc\0a', msg(2));
    q.push('a3', 1, false, 'r\0loc\0a', msg(3));
    expect(drain(q)).toEqual([{ frame: 'a3', overtakes: false }]);
  });

  it('moves a key between lanes without losing count', () => {
    const q = new OutgoingQueue();
    q.push('a1', 1, false, 'k', undefined);
    q.push('b', 1, false, undefined, undefined);
    q.push('a2', 1, true, 'k', undefined);
    expect(q.length).toBe(2);
    expect(drain(q).map((e) => e.frame)).toEqual(['a2', 'b']);
    q.push('a3', 1, false, 'k', undefined);
    expect(drain(q).map((e) => e.frame)).toEqual(['a3']);
  });

  it('stays correct across compaction of a long lane', () => {
    const q = new OutgoingQueue();
    for (let i = 0; i < 5_000; i++) q.push(`f${i}`, 1, false, undefined, undefined);
    const seen: unknown[] = [];
    for (let i = 0; i < 3_000; i++) seen.push(q.shift()?.frame);
    for (let i = 5_000; i < 6_000; i++) q.push(`f${i}`, 1, false, undefined, undefined);
    for (let e = q.shift(); e; e = q.shift()) seen.push(e.frame);
    expect(seen).toEqual(Array.from({ length: 6_000 }, (_, i) => `f${i}`));
  });
});
