/** What the schedule calls when an entry is due. */
export interface ExpiryTarget {
  /** The time (ms since the epoch) at which `due` runs; the schedule reads it when it is added. */
  dueAt: number;
  due(now: number): void;
}

/** Resolution of the schedule: entries run at most this late (and never early). */
const SLOT_MS = 100;

/**
 * One timer for every dated entry of a server (credential refresh asks and expiries), not one
 * per connection: entries go into 100 ms slots of a map, and while any entry waits, a single
 * unref'd interval walks the slots that came due since its last tick. Adding and removing are
 * O(1); an idle server (no dated connection) holds no timer. A heap would wake less often but
 * costs O(log n) per change; at 10 ticks a second only while something is dated, slots are the
 * smaller and simpler choice.
 *
 * @example
 * const schedule = new ExpirySchedule();
 * schedule.add({ dueAt: Date.now() + 2_000, due: () => ask(conn) });
 * schedule.stop(); // on close
 */
export class ExpirySchedule {
  readonly #slots = new Map<number, Set<ExpiryTarget>>();
  readonly #slotOf = new Map<ExpiryTarget, number>();
  readonly #clock: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The last slot walked. */
  #walked: number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
    this.#walked = Math.floor(clock() / SLOT_MS) - 1;
  }

  get size(): number {
    return this.#slotOf.size;
  }

  /** Adds (or moves) an entry to its `dueAt`. */
  add(target: ExpiryTarget): void {
    this.delete(target);
    const slot = Math.max(Math.ceil(target.dueAt / SLOT_MS), this.#walked + 1);
    let entries = this.#slots.get(slot);
    if (!entries) this.#slots.set(slot, (entries = new Set()));
    entries.add(target);
    this.#slotOf.set(target, slot);
    if (!this.#timer) {
      this.#walked = Math.floor(this.#clock() / SLOT_MS) - 1;
      this.#timer = setInterval(() => this.tick(), SLOT_MS);
      this.#timer.unref();
    }
  }

  delete(target: ExpiryTarget): void {
    const slot = this.#slotOf.get(target);
    if (slot === undefined) return;
    this.#slotOf.delete(target);
    const entries = this.#slots.get(slot);
    entries?.delete(target);
    if (entries?.size === 0) this.#slots.delete(slot);
  }

  /** Runs what came due; public for unit tests with a fake clock. */
  tick(): void {
    const now = this.#clock();
    const last = Math.floor(now / SLOT_MS);
    // Bounded: after a long stall (a suspended laptop) the walk jumps to the slots that exist.
    if (last - this.#walked > this.#slots.size + 1_000) {
      for (const slot of [...this.#slots.keys()].sort((a, b) => a - b))
        if (slot <= last) this.#run(slot, now);
      this.#walked = last;
    }
    while (this.#walked < last) this.#run(++this.#walked, now);
    if (this.#slotOf.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #run(slot: number, now: number): void {
    const entries = this.#slots.get(slot);
    if (!entries) return;
    this.#slots.delete(slot);
    for (const target of entries) {
      this.#slotOf.delete(target);
      target.due(now);
    }
  }
}
