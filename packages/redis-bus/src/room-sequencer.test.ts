import type { Delivery, HistoryPage, RoomPosition } from '@tether/server';
import { waitFor } from '@tether/test-utils';
import { describe, expect, it } from 'vitest';
import { RoomSequencer } from './room-sequencer.js';

/** A room's history as Redis would answer it: an epoch, a last offset, and the stored messages. */
function fakeRoom(epoch = 'E') {
  const room = {
    epoch,
    offset: 0,
    stored: new Map<number, Delivery>(),
    calls: 0,
    failures: 0,
    publish(stored = true): Delivery {
      room.offset++;
      const d: Delivery = {
        room: 'r',
        event: 'e',
        data: room.offset,
        epoch: room.epoch,
        offset: room.offset,
      };
      if (stored) room.stored.set(d.offset, d);
      return d;
    },
    async history(_room: string, after: RoomPosition | undefined, limit: number): Promise<HistoryPage> {
      room.calls++;
      if (room.failures > 0) {
        room.failures--;
        throw new Error('BUS_UNAVAILABLE');
      }
      const page: HistoryPage = { epoch: room.epoch, offset: room.offset, messages: [], complete: true };
      if (!after) return page;
      if (after.epoch !== room.epoch) return { ...page, complete: false };
      for (let o = after.offset + 1; o <= room.offset && page.messages.length < limit; o++) {
        const d = room.stored.get(o);
        if (d) page.messages.push(d);
      }
      const missing = room.offset - after.offset;
      page.complete = missing <= limit && page.messages.length === missing;
      return page;
    },
  };
  return room;
}

function setup(epoch = 'E') {
  const room = fakeRoom(epoch);
  const delivered: Delivery[] = [];
  const seq = new RoomSequencer({
    history: (r, after, limit) => room.history(r, after, limit),
    deliver: (d) => delivered.push(d),
    pageSize: 5,
  });
  seq.open('r');
  const offsets = () => delivered.map((d) => (d.volatile ? `v${d.offset}` : d.offset));
  return { room, seq, delivered, offsets };
}

/** Lets the fake history's answers (promise callbacks and the I/O turn after them) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RoomSequencer', () => {
  it('passes messages in order straight through', () => {
    const { room, seq, offsets } = setup();
    for (let i = 0; i < 3; i++) seq.receive(room.publish());
    expect(offsets()).toEqual([1, 2, 3]);
    expect(room.calls).toBe(0);
  });

  it('fills a gap from history, then delivers the held messages, each once', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    room.publish();
    room.publish(); // 2 and 3 lost by pub/sub
    seq.receive(room.publish());
    seq.receive(room.publish());
    await settle();
    expect(offsets()).toEqual([1, 2, 3, 4, 5]);
    expect(seq.recovered).toBeGreaterThanOrEqual(2);
  });

  it('reads several pages when the gap is longer than one', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    for (let i = 0; i < 12; i++) room.publish();
    seq.receive(room.publish());
    for (let i = 0; i < 5; i++) await settle();
    expect(offsets()).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
  });

  it('catches up on demand (a shard came back) from the position read when the room opened', async () => {
    const { room, seq, offsets } = setup();
    room.publish();
    room.publish();
    seq.track('r'); // position 2: published before the subscription
    await settle();
    room.publish(); // 3 published while the subscription was moving
    seq.catchUp('r');
    await settle();
    expect(offsets()).toEqual([3]);
    seq.receive(room.publish());
    expect(offsets()).toEqual([3, 4]);
  });

  it('delivers messages at or below the read position that were still on their way', async () => {
    const { room, seq, offsets } = setup();
    const early = room.publish();
    seq.track('r');
    await settle();
    seq.receive(early);
    seq.receive(room.publish());
    expect(offsets()).toEqual([1, 2]);
  });

  it('skips what history does not have, keeping held messages that were not stored', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    room.publish(false); // 2: not stored, lost
    const three = room.publish(false); // 3: not stored, but it came
    seq.receive(three);
    await settle();
    expect(offsets()).toEqual([1, 3]);
    seq.receive(room.publish());
    expect(offsets()).toEqual([1, 3, 4]);
  });

  it('holds volatile messages during a catch-up and keeps their order', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    room.publish();
    seq.receive(room.publish());
    seq.receive({ room: 'r', event: 'v', data: 0, epoch: 'E', offset: 3, volatile: true });
    await settle();
    expect(offsets()).toEqual([1, 2, 3, 'v3']);
  });

  it('follows a new epoch and reads it from its start', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    room.epoch = 'F';
    room.offset = 0;
    room.stored.clear();
    room.publish();
    seq.receive(room.publish());
    await settle();
    expect(offsets()).toEqual([1, 1, 2]);
    expect(seq.rooms()).toEqual(['r']);
  });

  it('drops late messages of an epoch that history proved gone', async () => {
    const { room, seq, delivered } = setup();
    seq.receive(room.publish());
    room.publish(); // lost: a catch-up will be needed
    room.epoch = 'F'; // ... and Redis moved to another lineage meanwhile (its history went with it)
    room.stored.clear();
    const stale: Delivery = { room: 'r', event: 'e', data: 'old', epoch: 'E', offset: 3 };
    seq.receive(stale);
    await settle();
    seq.receive({ room: 'r', event: 'e', data: 'older', epoch: 'E', offset: 4 });
    expect(delivered.map((d) => d.data)).toEqual([1]);
  });

  it('retries history while Redis cannot answer, then delivers in order', async () => {
    const { room, seq, offsets } = setup();
    seq.receive(room.publish());
    room.publish();
    room.failures = 1;
    seq.receive(room.publish());
    // The retry comes after the sequencer's back-off: wait for the catch-up, however long it takes.
    await waitFor(() => offsets().length >= 3, { timeout: 3000, message: () => `got ${offsets()}` });
    expect(offsets()).toEqual([1, 2, 3]);
    expect(room.failures).toBe(0); // the failure did happen and was retried
  });

  it('forgets a closed room and everything on clear', async () => {
    const { room, seq, offsets } = setup();
    seq.close('r');
    seq.receive(room.publish());
    expect(offsets()).toEqual([]);
    seq.open('r');
    seq.receive(room.publish());
    room.publish();
    room.failures = 100;
    seq.receive(room.publish());
    seq.clear();
    await settle();
    expect(offsets()).toEqual([2]);
    expect(seq.rooms()).toEqual([]);
  });
});
