import type { Frame } from '@tether/protocol';
import type { Delivery } from './bus.js';

/**
 * One frame waiting for a congested connection. Kept mutable so that a conflated value can take
 * the place of the one it replaces without moving anything.
 */
export interface QueuedFrame {
  frame: Frame;
  /** The room message behind the frame, when it is one: re-encoded with `o: 1` if it overtook. */
  delivery: Delivery | undefined;
  /** Conflation key (room, event and the app's key), when latest-value-wins. */
  key: string | undefined;
  urgent: boolean;
  /** Bytes counted against the connection's limit. */
  size: number;
  /** Enqueue order, to tell which messages of a room sit behind another one. */
  seq: number;
  /** True when it goes out ahead of older messages of its room that are still queued. */
  overtakes: boolean;
  /** Removed in place (its key moved to the other lane); skipped when the lane is read. */
  removed: boolean;
}

/** Queued durable room messages of one room in one lane. */
interface RoomTally {
  count: number;
  /** `seq` of the room's newest entry that went into this lane. */
  lastSeq: number;
}

/** A FIFO that is read from a moving head, compacted now and then instead of shifted. */
class Lane {
  items: QueuedFrame[] = [];
  head = 0;
  readonly rooms = new Map<string, RoomTally>();

  push(entry: QueuedFrame): void {
    this.items.push(entry);
    const room = entry.delivery?.room;
    if (room === undefined) return;
    const tally = this.rooms.get(room);
    if (tally) {
      tally.count++;
      tally.lastSeq = entry.seq;
    } else this.rooms.set(room, { count: 1, lastSeq: entry.seq });
  }

  /** The next live entry, or undefined. */
  shift(): QueuedFrame | undefined {
    while (this.head < this.items.length) {
      const entry = this.items[this.head++]!;
      if (entry.removed) continue;
      this.#forget(entry);
      this.#compact();
      return entry;
    }
    this.items = [];
    this.head = 0;
    return undefined;
  }

  remove(entry: QueuedFrame): void {
    entry.removed = true;
    this.#forget(entry);
  }

  /** Queued entries of `room`: how many, and whether one was enqueued after `seq`. */
  queuedAfter(room: string, seq: number): boolean {
    const tally = this.rooms.get(room);
    return tally !== undefined && tally.count > 0 && tally.lastSeq > seq;
  }

  has(room: string): boolean {
    return (this.rooms.get(room)?.count ?? 0) > 0;
  }

  #forget(entry: QueuedFrame): void {
    const room = entry.delivery?.room;
    if (room === undefined) return;
    const tally = this.rooms.get(room);
    if (tally && --tally.count === 0) this.rooms.delete(room);
  }

  #compact(): void {
    // Drop the consumed prefix once it is most of the array: amortized O(1) per entry.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * The per-connection queue a congested connection writes into instead of its socket (see
 * `Connection.sendFrame`). Two lanes: urgent frames leave before normal ones; within a lane,
 * order is kept, except that a conflated frame replaces the queued one with the same key in
 * place. Volatile frames never get here. It tells which room messages overtake older ones of
 * their room, so the client does not take them for its resume position.
 *
 * Bounded by its owner (bytes and count); holds no timers and no closures.
 *
 * @example
 * const queue = new OutgoingQueue();
 * queue.push(frame, size, false, 'r\0location\0driver:7', delivery);
 * for (let e = queue.shift(); e; e = queue.shift()) write(e.frame);
 */
export class OutgoingQueue {
  readonly #urgent = new Lane();
  readonly #normal = new Lane();
  #byKey: Map<string, QueuedFrame> | undefined;
  #seq = 0;
  /** Live entries. */
  length = 0;
  /** Sum of the live entries' sizes. */
  bytes = 0;

  /**
   * Adds a frame, or replaces the queued frame with the same conflation key. Returns the entry
   * that now holds it.
   */
  push(
    frame: Frame,
    size: number,
    urgent: boolean,
    key: string | undefined,
    delivery: Delivery | undefined,
  ): QueuedFrame {
    if (key !== undefined) {
      const queued = this.#byKey?.get(key);
      if (queued && queued.urgent === urgent) return this.#replace(queued, frame, size, delivery);
      if (queued) {
        // Same key, other lane: the old value leaves its lane and the new one queues normally.
        (queued.urgent ? this.#urgent : this.#normal).remove(queued);
        this.length--;
        this.bytes -= queued.size;
      }
    }
    const entry: QueuedFrame = {
      frame,
      delivery,
      key,
      urgent,
      size,
      seq: ++this.#seq,
      // An urgent room message overtakes every normal message of its room still queued.
      overtakes: urgent && delivery !== undefined && this.#normal.has(delivery.room),
      removed: false,
    };
    (urgent ? this.#urgent : this.#normal).push(entry);
    if (key !== undefined) (this.#byKey ??= new Map()).set(key, entry);
    this.length++;
    this.bytes += size;
    return entry;
  }

  /** The next frame to write: urgent ones first, then normal ones, each in order. */
  shift(): QueuedFrame | undefined {
    const entry = this.#urgent.shift() ?? this.#normal.shift();
    if (!entry) return undefined;
    this.length--;
    this.bytes -= entry.size;
    if (entry.key !== undefined && this.#byKey?.get(entry.key) === entry) this.#byKey.delete(entry.key);
    return entry;
  }

  #replace(entry: QueuedFrame, frame: Frame, size: number, delivery: Delivery | undefined): QueuedFrame {
    this.bytes += size - entry.size;
    entry.frame = frame;
    entry.size = size;
    entry.delivery = delivery;
    if (delivery !== undefined) {
      // The new value keeps the old one's place: it overtakes whatever of its room queued since.
      const lane = entry.urgent ? this.#urgent : this.#normal;
      entry.overtakes =
        lane.queuedAfter(delivery.room, entry.seq) || (entry.urgent && this.#normal.has(delivery.room));
    }
    return entry;
  }
}
