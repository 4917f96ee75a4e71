import type { Delivery, HistoryPage, RoomPosition } from '@tether/server';

/** What a {@link RoomSequencer} needs from its bus. */
export interface RoomSequencerOptions {
  /** Reads a room's history (the bus's own `history`). */
  history: (room: string, after: RoomPosition | undefined, limit: number) => Promise<HistoryPage>;
  /** Hands a message to the nodes subscribed to its room. */
  deliver: (delivery: Delivery) => void;
  /** Messages read per history call. Default 1000. */
  pageSize?: number;
  /** Most history calls running at once (a recovered shard may serve many rooms). Default 32. */
  concurrency?: number;
}

interface RoomState {
  /** Epoch of the last message delivered, or of the position read when the room was opened. */
  epoch: string | undefined;
  /** Every durable message of `epoch` up to here was delivered (or is known to be unrecoverable). */
  offset: number;
  /**
   * Messages at or below this offset were published before the position was read and may still
   * be on their way: they are delivered when they come, never counted as duplicates.
   */
  floor: number;
  /** Live messages held back while history is read; undefined when none is being read. */
  held: Delivery[] | undefined;
  /** A catch-up is queued or running. */
  busy: boolean;
  /** Asked to catch up again once the running one ends. */
  again: boolean;
  /** Incremented when a catch-up ends: an older run that is still reading stops. */
  run: number;
  /** Epochs history proved gone (Redis answered with another one): their late messages are dropped. */
  dead: string[];
}

/** Live messages held per room while catching up; past this, the room gives up catching up. */
const MAX_HELD = 10_000;
/** History pages read per catch-up. */
const MAX_PAGES = 10;
/** Attempts per catch-up while Redis cannot answer (a failover takes a few seconds). */
const ATTEMPTS = 12;

/**
 * Keeps a node's view of every subscribed room gap-free across pub/sub interruptions.
 *
 * Pub/sub does not replay what was published while a subscription was down, and on a Redis
 * Cluster a subscription moves whenever a replica replaces a failed master. The sequencer
 * remembers, per room, the position of the last message it delivered. A message that skips
 * offsets (or {@link catchUp}, called when a shard's subscriptions were proven again) makes it
 * read the missing ones from history, deliver them in order, then the live messages it held
 * meanwhile, each once. Volatile messages pass straight through unless a catch-up holds the room.
 * What history no longer has is passed over here: the server's own gap repair (room-continuity.ts
 * in @tether/server) then sees the jump, finds history incomplete and tells the room's clients.
 *
 * @example
 * const seq = new RoomSequencer({ history: (r, a, l) => bus.history(r, a, l), deliver });
 * seq.open('order:42');
 * seq.receive(delivery); // from pub/sub
 */
export class RoomSequencer {
  readonly #options: Required<RoomSequencerOptions>;
  readonly #rooms = new Map<string, RoomState>();
  readonly #queue: string[] = [];
  readonly #sleepers = new Set<() => void>();
  #active = 0;
  #recovered = 0;

  constructor(options: RoomSequencerOptions) {
    this.#options = { pageSize: 1000, concurrency: 32, ...options };
  }

  /** Messages delivered from history because pub/sub had missed them. */
  get recovered(): number {
    return this.#recovered;
  }

  /** Starts tracking a room (its subscription is being made); {@link track} reads its position. */
  open(room: string): void {
    if (this.#rooms.has(room)) return;
    const state: RoomState = {
      epoch: undefined,
      offset: 0,
      floor: 0,
      held: undefined,
      busy: false,
      again: false,
      run: 0,
      dead: [],
    };
    this.#rooms.set(room, state);
  }

  /**
   * Reads the position of an open room whose subscription is now live, in the background, unless
   * a message gave it one already. Messages up to that position may still be on their way.
   */
  track(room: string): void {
    const state = this.#rooms.get(room);
    if (!state || state.epoch !== undefined) return;
    this.#options.history(room, undefined, 0).then(
      (page) => {
        if (this.#rooms.get(room) !== state || state.epoch !== undefined) return;
        state.epoch = page.epoch;
        state.offset = state.floor = page.offset;
      },
      () => {
        // Unknown until the first message: a gap before it cannot be seen, the rest still can.
      },
    );
  }

  /** Stops tracking a room (no node is subscribed any more). */
  close(room: string): void {
    this.#rooms.delete(room);
  }

  /** Rooms being tracked. */
  rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /** A message from pub/sub. */
  receive(delivery: Delivery): void {
    const state = this.#rooms.get(delivery.room);
    if (!state) return;
    if (state.held) {
      state.held.push(delivery);
      // Redis is not answering and the room keeps talking: stop waiting, deliver past the gap.
      if (state.held.length > MAX_HELD) this.#finish(delivery.room, state, Infinity);
      return;
    }
    this.#accept(delivery.room, state, delivery);
  }

  /** Reads what a room may have missed (its shard's subscription was interrupted). */
  catchUp(room: string): void {
    const state = this.#rooms.get(room);
    if (!state || state.epoch === undefined) return;
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    state.held ??= [];
    this.#queue.push(room);
    this.#pump();
  }

  /** Forgets every room and ends every pending catch-up. */
  clear(): void {
    this.#rooms.clear();
    this.#queue.length = 0;
    for (const wake of [...this.#sleepers]) wake();
  }

  #accept(room: string, state: RoomState, delivery: Delivery): void {
    const verdict = this.#judge(state, delivery);
    if (verdict === 'deliver') this.#options.deliver(delivery);
    else if (verdict === 'gap') {
      // Offsets were skipped: hold this one, read the missing ones from history.
      state.held = [delivery];
      this.catchUp(room);
    }
  }

  /** What to do with a live message, given the room's position (which it moves on). */
  #judge(state: RoomState, delivery: Delivery): 'deliver' | 'drop' | 'gap' {
    if (delivery.volatile) return 'deliver';
    const { epoch, offset } = delivery;
    if (state.dead.includes(epoch)) return 'drop';
    if (state.epoch === undefined || (epoch === state.epoch && offset === state.offset + 1)) {
      state.epoch = epoch;
      state.offset = offset;
      return 'deliver';
    }
    if (epoch === state.epoch) {
      if (offset <= state.floor) return 'deliver';
      if (offset <= state.offset) return 'drop'; // delivered already, by a catch-up
      return 'gap';
    }
    // Another lineage (Redis lost the room, or opened a new epoch): read it from its start.
    state.epoch = epoch;
    state.offset = state.floor = 0;
    if (offset !== 1) return 'gap';
    state.offset = 1;
    return 'deliver';
  }

  #pump(): void {
    while (this.#active < this.#options.concurrency && this.#queue.length > 0) {
      const room = this.#queue.shift()!;
      const state = this.#rooms.get(room);
      if (!state?.busy) continue;
      this.#active++;
      void this.#run(room, state).finally(() => {
        this.#active--;
        this.#pump();
      });
    }
  }

  async #run(room: string, state: RoomState): Promise<void> {
    const run = state.run;
    const current = () => this.#rooms.get(room) === state && state.run === run;
    // Where the gap ends: history answered for everything up to here. Infinity: it did not answer.
    let skipTo = Number.POSITIVE_INFINITY;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await this.#read(room, state, current);
      if (!current()) return;
      if (!result) break;
      const { epoch, offset, messages, complete } = result;
      if (epoch !== state.epoch) {
        // The room's epoch changed meanwhile: its messages are read from the start next round.
        if (state.epoch !== undefined) state.dead = [...state.dead.slice(-7), state.epoch];
        state.epoch = epoch;
        state.offset = state.floor = 0;
        continue;
      }
      for (const message of messages) {
        if (message.offset <= state.offset) continue;
        state.offset = message.offset;
        this.#recovered++;
        this.#options.deliver(message);
      }
      skipTo = offset;
      if (complete || messages.length < this.#options.pageSize) break;
      if (page === MAX_PAGES - 1) {
        // More to read: continue after the held ones, in a new round.
        skipTo = state.offset;
        state.again = true;
      }
    }
    this.#finish(room, state, skipTo);
  }

  /** One history page after the room's position, retried while Redis cannot answer. */
  async #read(room: string, state: RoomState, current: () => boolean): Promise<HistoryPage | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS && current(); attempt++) {
      try {
        const after = { epoch: state.epoch ?? '', offset: state.offset };
        return await this.#options.history(room, after, this.#options.pageSize);
      } catch {
        await this.#sleep(Math.min(250 * 2 ** attempt, 2000));
      }
    }
    return undefined;
  }

  /**
   * Ends a catch-up: delivers the held messages in order. Those at or below `skipTo` that history
   * did not have (not stored, trimmed) are delivered as they came; past `skipTo` the usual rules
   * apply again, so a new gap among them starts another catch-up.
   */
  #finish(room: string, state: RoomState, skipTo: number | undefined): void {
    state.run++;
    const held = state.held ?? [];
    state.held = undefined;
    state.busy = false;
    let skip = skipTo;
    for (let i = 0; i < held.length; i++) {
      const message = held[i]!;
      if (state.dead.includes(message.epoch)) continue;
      if (skip !== undefined && !message.volatile) {
        if (message.epoch === state.epoch && message.offset <= skip) {
          if (message.offset > state.offset) {
            state.offset = message.offset;
            this.#options.deliver(message);
          } else if (message.offset <= state.floor) this.#options.deliver(message);
          continue;
        }
        if (Number.isFinite(skip)) state.offset = Math.max(state.offset, skip);
        skip = undefined;
      }
      this.#accept(room, state, message);
      if (state.held) {
        // A new gap: it holds the rest, in order, behind the message that revealed it.
        (state.held as Delivery[]).push(...held.slice(i + 1));
        return;
      }
    }
    if (skip !== undefined && Number.isFinite(skip)) state.offset = Math.max(state.offset, skip);
    if (state.again) {
      state.again = false;
      this.catchUp(room);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.#sleepers.add(wake);
    });
  }
}
