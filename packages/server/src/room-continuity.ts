import type { Logger, RoomPosition } from '@tether/protocol';
import type { Bus, Delivery, HistoryPage } from './bus.js';
import type { Metrics } from './metrics.js';

/** What the continuity of a node's rooms needs from the rooms part. */
export interface ContinuityContext {
  readonly bus: Bus;
  readonly logger: Logger;
  /** `gapMessagesRepaired` and `gapsLost` are counted here. */
  readonly counters: Metrics;
  /** Hands an in-order message to the room's local members. */
  fanOut(delivery: Delivery): void;
  /**
   * Messages of `room` after the last one handed over and up to `at.offset` are lost (history did
   * not hold them): the members are told before the next message, which follows `at`.
   */
  lost(room: string, at: RoomPosition): void;
  /** Subscribes the room again (the bus lost the subscription without noticing). */
  resubscribe(room: string): void;
}

/** Where one subscribed room stands on this node. */
interface Track {
  /** Epoch of the last message handed over; undefined until the first message or position. */
  epoch: string | undefined;
  /** Every durable message of `epoch` up to here was handed over (or reported lost). */
  offset: number;
  /**
   * Messages at or below this offset were published before the room's position was first read
   * and may still be on their way: handed over when they come (the engines drop what they have).
   */
  floor: number;
  /** Live messages held back while history is read; undefined when no repair runs. */
  held: Delivery[] | undefined;
  /** Another repair was asked for while one ran. */
  again: boolean;
  /** History was read up to here and lacked some messages: a jump below it is a known loss. */
  lostThrough: number;
  /** A publish of this node at this offset must come back through the bus by `due` (ms). */
  echo: { offset: number; due: number } | undefined;
  /** Epochs history proved ended (the last few): late messages of theirs are dropped, already reported. */
  dead: string[];
}

/** Messages read per history call. */
const PAGE = 1_000;
/** History pages one repair reads before it lets held messages through and starts again. */
const MAX_PAGES = 20;
/** History reads tried per repair while the bus cannot answer, with a growing pause between them. */
const ATTEMPTS = 8;
/** How long a message this node published may take to come back through the bus, in ms. */
const ECHO_MS = 3_000;
/**
 * Repairs reading history at once; more wait their turn (their live messages held meanwhile). A
 * bus coming back up makes every subscribed room repair: thousands of history reads at once
 * would only queue in the bus's store.
 */
const MAX_RUNNING = 32;

/**
 * Keeps every room this node is subscribed to gap-free, whatever the bus: the node remembers the
 * position of the last message of each room it handed to its connections. A live message that
 * skips offsets, or the bus coming back up (a dropped or partitioned subscription, a failover),
 * makes it read the missing messages from history and hand them over in order before anything
 * later (live messages wait meanwhile). What history no longer holds (trimmed, expired, stored
 * with `history: false`, another epoch) is reported to the room's members with `lost` before the
 * first message after the gap, and logged: never skipped silently.
 *
 * Counted in `Metrics`: `gapMessagesRepaired` came from history, `gapsLost` could not be covered.
 *
 * The one owner of these positions and of gap repair between bus and node, on every bus: a bus
 * (MemoryBus, RedisBus on one Redis or a Cluster) delivers what its transport brings and reports
 * `'down'` then `'up'` when it may have missed some; it repairs nothing itself.
 *
 * @example
 * const continuity = new RoomContinuity({ bus, logger, fanOut, lost });
 * continuity.open('lobby');
 * continuity.receive(delivery); // from the bus
 * continuity.busUp(); // after an outage: reads what every room missed
 */
export class RoomContinuity {
  readonly #context: ContinuityContext;
  readonly #rooms = new Map<string, Track>();
  readonly #sleepers = new Set<() => void>();
  /** Tracks whose repair is running. */
  readonly #running = new Set<Track>();
  /** Tracks whose repair waits for a place among the running ones (at most `MAX_RUNNING`), by room. */
  readonly #waiting = new Map<Track, string>();
  /** Rooms waiting for the echo of a publish of this node; checked by one sweep. */
  readonly #echoes = new Set<string>();
  #sweep: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(context: ContinuityContext) {
    this.#context = context;
  }

  /** Starts following a room (its first local member is joining). */
  open(room: string): void {
    if (this.#rooms.has(room)) return;
    this.#rooms.set(room, {
      epoch: undefined,
      offset: 0,
      floor: 0,
      held: undefined,
      again: false,
      lostThrough: 0,
      echo: undefined,
      dead: [],
    });
  }

  /** A position read after the room's subscription was live; used when no message gave one yet. */
  position(room: string, page: RoomPosition): void {
    const track = this.#rooms.get(room);
    if (!track || track.epoch !== undefined) return;
    track.epoch = page.epoch;
    track.offset = track.floor = page.offset;
  }

  /** Stops following a room (its last local member left). */
  close(room: string): void {
    this.#rooms.delete(room);
  }

  /** A message from the bus. */
  receive(delivery: Delivery): void {
    const track = this.#rooms.get(delivery.room);
    if (!track) {
      this.#context.fanOut(delivery);
      return;
    }
    if (track.held) {
      track.held.push(delivery);
      return;
    }
    this.#accept(delivery.room, track, delivery);
  }

  /**
   * A publish of this node resolved at `at`. The node is subscribed, so the bus must bring the
   * message back; when it does not within `ECHO_MS` (a subscription the bus lost without
   * noticing), the room is subscribed again and its missed messages read from history.
   */
  published(room: string, at: RoomPosition): void {
    const track = this.#rooms.get(room);
    if (!track || track.epoch !== at.epoch || track.offset >= at.offset) return;
    // One echo at a time: the oldest still missing keeps its deadline (a busy publisher's later
    // ones would otherwise push it out for ever).
    if (track.echo && track.offset < track.echo.offset) return;
    track.echo = { offset: at.offset, due: Date.now() + ECHO_MS };
    this.#echoes.add(room);
    this.#sweep ??= setInterval(() => this.#checkEchoes(), ECHO_MS / 2);
    this.#sweep.unref?.();
  }

  /** The bus is (back) up: every room may have missed messages while it was away. */
  busUp(): void {
    for (const [room, track] of this.#rooms) if (track.epoch !== undefined) this.#repair(room, track);
  }

  /** Ends pending repairs (the server is closing). */
  dispose(): void {
    this.#closed = true;
    this.#waiting.clear();
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#echoes.clear();
    this.#rooms.clear();
    for (const wake of [...this.#sleepers]) wake();
  }

  #accept(room: string, track: Track, delivery: Delivery): void {
    if (delivery.volatile) {
      this.#context.fanOut(delivery);
      return;
    }
    const { epoch, offset } = delivery;
    if (track.dead.includes(epoch)) return;
    if (track.epoch === undefined || (epoch === track.epoch && offset === track.offset + 1)) {
      track.epoch = epoch;
      track.offset = offset;
      this.#context.fanOut(delivery);
      return;
    }
    if (epoch === track.epoch && offset <= track.offset) {
      // In flight since before the first position was read; else a copy of one repaired already.
      if (offset <= track.floor) this.#context.fanOut(delivery);
      return;
    }
    if (epoch === track.epoch && offset - 1 <= track.lostThrough) {
      // History was read already and does not hold the skipped ones: tell, then go on.
      this.#loss(room, track, delivery, 'not in history');
      track.offset = offset;
      this.#context.fanOut(delivery);
      return;
    }
    // Offsets skipped, or another epoch: hold it and read what is missing.
    track.held = [delivery];
    this.#repair(room, track);
  }

  #checkEchoes(): void {
    const now = Date.now();
    for (const room of this.#echoes) {
      const track = this.#rooms.get(room);
      const echo = track?.echo;
      if (!track || !echo || track.offset >= echo.offset) {
        if (track) track.echo = undefined;
        this.#echoes.delete(room);
        continue;
      }
      if (now < echo.due) continue;
      track.echo = undefined;
      this.#echoes.delete(room);
      this.#context.logger.warn(
        { room, offset: echo.offset, delivered: track.offset },
        'a message this node published did not come back through the bus: subscribing again, reading history',
      );
      this.#context.resubscribe(room);
      this.#repair(room, track);
    }
    if (this.#echoes.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #repair(room: string, track: Track): void {
    if (this.#closed) return;
    if (this.#running.has(track)) {
      track.again = true;
      return;
    }
    track.held ??= [];
    if (this.#waiting.has(track)) return;
    if (this.#running.size >= MAX_RUNNING) {
      this.#waiting.set(track, room);
      return;
    }
    this.#start(room, track);
  }

  #start(room: string, track: Track): void {
    this.#running.add(track);
    this.#run(room, track)
      .catch((err) => this.#context.logger.error({ err, room }, 'room repair failed'))
      .finally(() => this.#next());
  }

  /** A repair ended: the oldest waiting one whose room is still followed starts. */
  #next(): void {
    for (const [track, room] of this.#waiting) {
      if (this.#running.size >= MAX_RUNNING) return;
      this.#waiting.delete(track);
      if (!this.#closed && this.#rooms.get(room) === track) this.#start(room, track);
    }
  }

  async #run(room: string, track: Track): Promise<void> {
    const current = () => !this.#closed && this.#rooms.get(room) === track;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const result = await this.#read(room, track, current);
        if (!current()) return;
        if (!result) {
          // History could not be read: what is held cannot be checked. Say so, then go on from it.
          const first = track.held?.find((h) => !h.volatile);
          this.#loss(room, track, first ?? track, 'history could not be read');
          if (first) {
            track.epoch = first.epoch;
            track.offset = first.offset - 1;
          }
          break;
        }
        if (this.#apply(room, track, result)) break;
      }
    } finally {
      this.#running.delete(track);
    }
    if (current()) this.#release(room, track);
  }

  /** Hands over what a history page holds after the track's position; true when the repair is done. */
  #apply(room: string, track: Track, page: HistoryPage): boolean {
    if (page.epoch !== track.epoch) {
      // The lineage ended (Redis lost the room, or a new epoch): nothing of the old one comes back.
      this.#loss(room, track, page, 'the room has a new epoch');
      if (track.epoch !== undefined) track.dead = [...track.dead.slice(-7), track.epoch];
      track.epoch = page.epoch;
      track.offset = track.floor = page.offset;
      track.lostThrough = 0;
      return true;
    }
    for (const message of page.messages) {
      if (message.offset <= track.offset) continue;
      if (message.offset !== track.offset + 1) this.#loss(room, track, message, 'not in history');
      track.offset = message.offset;
      this.#context.counters.gapMessagesRepaired++;
      this.#context.fanOut(message);
    }
    if (page.complete) {
      track.offset = Math.max(track.offset, page.offset);
      return true;
    }
    // A full page: read on. Else the rest up to the room's end is not in history (never stored,
    // trimmed or expired): the members are told when the next message comes.
    if (page.messages.length >= PAGE) return false;
    track.lostThrough = Math.max(track.lostThrough, page.offset);
    return true;
  }

  /** Lets the held messages through, in order; a new gap among them starts another repair. */
  #release(room: string, track: Track): void {
    const held = track.held ?? [];
    track.held = undefined;
    for (let i = 0; i < held.length; i++) {
      this.#accept(room, track, held[i]!);
      if (track.held) {
        (track.held as Delivery[]).push(...held.slice(i + 1));
        return;
      }
    }
    if (track.again) {
      track.again = false;
      this.#repair(room, track);
    }
  }

  /** `at`: the first message after the gap (the loss ends right before it), or a position. */
  #loss(
    room: string,
    track: Track,
    at: { epoch?: string; offset: number; event?: string },
    why: string,
  ): void {
    this.#context.counters.gapsLost++;
    const offset = at.event !== undefined ? at.offset - 1 : at.offset;
    this.#context.logger.warn(
      { room, after: track.offset, upTo: offset, why },
      'room messages lost: members are told recovery failed',
    );
    this.#context.lost(room, { epoch: at.epoch ?? track.epoch ?? '', offset });
  }

  /** One history page after the track's position, retried while the bus cannot answer. */
  async #read(room: string, track: Track, current: () => boolean): Promise<HistoryPage | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS && current(); attempt++) {
      try {
        return await this.#context.bus.history(
          room,
          { epoch: track.epoch ?? '', offset: track.offset },
          PAGE,
        );
      } catch {
        await this.#sleep(Math.min(100 * 2 ** attempt, 2_000));
      }
    }
    return undefined;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }
}
