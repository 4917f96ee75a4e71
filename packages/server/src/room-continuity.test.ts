import type { Logger, RoomPosition } from '@tether/protocol';
import { waitFor } from '@tether/test-utils';
import { describe, expect, it } from 'vitest';
import type { Bus, Delivery, HistoryPage } from './bus.js';
import { Metrics } from './metrics.js';
import { RoomContinuity } from './room-continuity.js';

// The gap repair's own rules, against a room history answered the way a bus answers it: the only
// owner of gap repair (the buses deliver what their transport brings, in the order it comes).
// The same rules over real sockets: test/continuity.test.ts here, continuity.test.ts and
// cluster.test.ts in redis-bus, and the chaos suite.

/** A room's history as a bus would answer it: an epoch, a last offset, and the stored messages. */
function fakeRoom(name = 'r', epoch = 'E') {
  const room = {
    epoch,
    offset: 0,
    stored: new Map<number, Delivery>(),
    calls: 0,
    failures: 0,
    publish(stored = true): Delivery {
      room.offset++;
      const d: Delivery = {
        room: name,
        event: 'e',
        data: room.offset,
        epoch: room.epoch,
        offset: room.offset,
      };
      if (stored) room.stored.set(d.offset, d);
      return d;
    },
    async history(after: RoomPosition | undefined, limit: number): Promise<HistoryPage> {
      room.calls++;
      // Answered on a later turn, as a bus's store answers.
      await new Promise((resolve) => setImmediate(resolve));
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

type FakeRoom = ReturnType<typeof fakeRoom>;

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Rooms named `r`, `r1`, `r2`, ... in the order given. */
const nameOf = (i: number) => (i === 0 ? 'r' : `r${i}`);

function setup(rooms: FakeRoom[] = [fakeRoom()]) {
  const byName = new Map(rooms.map((room, i) => [nameOf(i), room] as const));
  const log: Array<number | string> = [];
  const resubscribed: string[] = [];
  const counters = new Metrics();
  const bus = {
    history: (name: string, after: RoomPosition | undefined, limit: number) =>
      byName.get(name)!.history(after, limit),
  } as unknown as Bus;
  const continuity = new RoomContinuity({
    bus,
    logger: quiet,
    counters,
    fanOut: (d) => log.push(d.volatile ? `v${d.offset}` : d.offset),
    lost: (room, at) => log.push(`lost ${room} to ${at.epoch}:${at.offset}`),
    resubscribe: (room) => resubscribed.push(room),
  });
  for (const name of byName.keys()) continuity.open(name);
  return { room: rooms[0]!, continuity, log, counters, resubscribed };
}

/** Lets the fake history's answers (promise callbacks and the I/O turn after them) run. */
const settle = async (turns = 3) => {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('RoomContinuity', () => {
  it('passes messages in order straight through, without reading history', () => {
    const { room, continuity, log } = setup();
    for (let i = 0; i < 3; i++) continuity.receive(room.publish());
    expect(log).toEqual([1, 2, 3]);
    expect(room.calls).toBe(0);
  });

  it('fills a gap from history, then hands over the held messages, each once', async () => {
    const { room, continuity, log, counters } = setup();
    continuity.receive(room.publish());
    room.publish();
    room.publish(); // 2 and 3 missed by the bus
    continuity.receive(room.publish());
    continuity.receive(room.publish());
    await settle();
    expect(log).toEqual([1, 2, 3, 4, 5]);
    expect(counters.gapMessagesRepaired).toBe(4); // 2 and 3, and 4 and 5 read with them
    expect(counters.gapsLost).toBe(0);
  });

  it('reads several pages when the gap is longer than one', async () => {
    const { room, continuity, log } = setup();
    continuity.receive(room.publish());
    for (let i = 0; i < 2_500; i++) room.publish();
    continuity.receive(room.publish());
    await waitFor(() => log.length >= 2_502, { timeout: 5_000, message: () => `got ${log.length}` });
    expect(log).toEqual(Array.from({ length: 2_502 }, (_, i) => i + 1));
    expect(room.calls).toBeGreaterThanOrEqual(3);
  });

  it('reads what a room missed when the bus is back up, from the position read at the join', async () => {
    const { room, continuity, log } = setup();
    room.publish();
    room.publish();
    continuity.position('r', await room.history(undefined, 0)); // position 2: before the join
    room.publish(); // 3 published while the subscription was away
    continuity.busUp();
    await settle();
    expect(log).toEqual([3]);
    continuity.receive(room.publish());
    expect(log).toEqual([3, 4]);
  });

  it('hands over messages at or below the read position that were still on their way', async () => {
    const { room, continuity, log } = setup();
    const early = room.publish();
    continuity.position('r', await room.history(undefined, 0));
    continuity.receive(early);
    continuity.receive(room.publish());
    expect(log).toEqual([1, 2]);
  });

  it('reports what history does not have before the next message, then goes on', async () => {
    const { room, continuity, log, counters } = setup();
    continuity.receive(room.publish());
    room.publish(false); // 2: not stored, missed
    continuity.receive(room.publish(false)); // 3: not stored, but it came
    await settle();
    expect(log).toEqual([1, 'lost r to E:2', 3]);
    continuity.receive(room.publish());
    expect(log).toEqual([1, 'lost r to E:2', 3, 4]);
    expect(counters.gapsLost).toBe(1);
  });

  it('holds volatile messages during a repair and keeps their order', async () => {
    const { room, continuity, log } = setup();
    continuity.receive(room.publish());
    room.publish();
    continuity.receive(room.publish());
    continuity.receive({ room: 'r', event: 'v', data: 0, epoch: 'E', offset: 3, volatile: true });
    await settle();
    expect(log).toEqual([1, 2, 3, 'v3']);
  });

  it('reports a new epoch, then follows it', async () => {
    const { room, continuity, log } = setup();
    continuity.receive(room.publish());
    room.epoch = 'F'; // the store lost the room: a new lineage
    room.offset = 0;
    room.stored.clear();
    room.publish();
    continuity.receive(room.publish());
    await settle();
    expect(log).toEqual([1, 'lost r to F:2', 2]);
    continuity.receive(room.publish());
    expect(log).toEqual([1, 'lost r to F:2', 2, 3]);
  });

  it('drops late messages of an epoch that history proved gone (reported already)', async () => {
    const { room, continuity, log } = setup();
    continuity.receive(room.publish());
    room.publish(); // missed: a repair will be needed
    room.epoch = 'F'; // ... and the store moved to another lineage meanwhile
    room.stored.clear();
    continuity.receive({ room: 'r', event: 'e', data: 'old', epoch: 'E', offset: 3 });
    await settle();
    continuity.receive({ room: 'r', event: 'e', data: 'older', epoch: 'E', offset: 4 });
    expect(log).toEqual([1, 'lost r to F:2']);
    expect(room.calls).toBe(1);
  });

  it('retries history while the bus cannot answer, then hands over in order', async () => {
    const { room, continuity, log } = setup();
    continuity.receive(room.publish());
    room.publish();
    room.failures = 1;
    continuity.receive(room.publish());
    // The retry comes after the repair's back-off: wait for it, however long it takes.
    await waitFor(() => log.length >= 3, { timeout: 5_000, message: () => `got ${log}` });
    expect(log).toEqual([1, 2, 3]);
    expect(room.failures).toBe(0); // the failure did happen and was retried
  });

  it('forgets a closed room, and every pending repair on dispose', async () => {
    const { room, continuity, log } = setup();
    continuity.close('r');
    continuity.receive(room.publish()); // not followed: straight through
    expect(log).toEqual([1]);
    continuity.open('r');
    continuity.receive(room.publish());
    room.publish();
    room.failures = 100;
    continuity.receive(room.publish());
    continuity.dispose();
    await settle();
    expect(log).toEqual([1, 2]);
  });

  it('runs at most 32 repairs at once when the bus comes back, and repairs every room', async () => {
    const rooms = Array.from({ length: 80 }, (_, i) => fakeRoom(nameOf(i)));
    const { continuity, log } = setup(rooms);
    rooms.forEach((room, i) => {
      continuity.position(nameOf(i), { epoch: 'E', offset: 0 });
      room.publish(); // missed while the bus was away
    });
    let inFlight = 0;
    let most = 0;
    for (const room of rooms) {
      const read = room.history.bind(room);
      room.history = async (after, limit) => {
        most = Math.max(most, ++inFlight);
        try {
          return await read(after, limit);
        } finally {
          inFlight--;
        }
      };
    }
    continuity.busUp();
    await waitFor(() => log.length >= rooms.length, { timeout: 5_000, message: () => `got ${log.length}` });
    expect(log).toEqual(rooms.map(() => 1));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(32);
  });
});
