/** One request's outcome (or claim) in a `LocalOutcomeStore` (`T`: what it stores). */
export interface LocalEntry<T> {
  readonly requestId: string;
  outcome: T;
  expiresAt: number;
}

/** Most entries a session keeps in a list before they move to a Map. */
const LISTED_ENTRIES = 8;

/**
 * One session's entries in insertion order: a short list, searched in order, then a Map.
 *
 * A session mostly holds one or two outcomes: its client acknowledges each reply with its next
 * request, which saves one outcome and releases the previous one. A Map of one entry pays for
 * that on every request: emptied, V8 shrinks its table, and grows it again for the next entry
 * (about 0.5 µs); deleted entries fill its table until it is rebuilt. A list of a few entries
 * is scanned as fast as a Map hashes and keeps its backing store.
 *
 * @example
 * const entries = new SessionOutcomes();
 * entries.put({ requestId: 'r1', outcome: { ok: true, data: 1 }, expiresAt: Date.now() + 60_000 });
 */
export class SessionOutcomes<T> {
  #list: LocalEntry<T>[] | undefined = [];
  #map: Map<string, LocalEntry<T>> | undefined;

  get size(): number {
    return this.#list ? this.#list.length : this.#map!.size;
  }

  get(requestId: string): LocalEntry<T> | undefined {
    const list = this.#list;
    if (!list) return this.#map!.get(requestId);
    for (let i = 0; i < list.length; i++) if (list[i]!.requestId === requestId) return list[i];
    return undefined;
  }

  /** Adds an entry, or replaces the one of its request in its place; true when it was added. */
  put(entry: LocalEntry<T>): boolean {
    const list = this.#list;
    if (!list) {
      const map = this.#map!;
      const before = map.size;
      map.set(entry.requestId, entry);
      return map.size > before;
    }
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.requestId === entry.requestId) {
        list[i] = entry;
        return false;
      }
    }
    if (list.length < LISTED_ENTRIES) {
      list.push(entry);
      return true;
    }
    this.#map = new Map(list.map((e) => [e.requestId, e]));
    this.#map.set(entry.requestId, entry);
    this.#list = undefined;
    return true;
  }

  /** Removes a request's entry; true when there was one. */
  delete(requestId: string): boolean {
    const list = this.#list;
    if (!list) return this.#map!.delete(requestId);
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.requestId !== requestId) continue;
      // Moved down by hand: splice would allocate the array of what it removed.
      for (let j = i + 1; j < list.length; j++) list[j - 1] = list[j]!;
      list.pop();
      return true;
    }
    return false;
  }

  /** Drops entries expired at `now` from the front, up to the first live one; returns how many. */
  dropExpired(now: number): number {
    const list = this.#list;
    if (!list) {
      let dropped = 0;
      for (const [requestId, entry] of this.#map!) {
        if (entry.expiresAt > now) break;
        this.#map!.delete(requestId);
        dropped++;
      }
      return dropped;
    }
    let live = 0;
    while (live < list.length && list[live]!.expiresAt <= now) live++;
    if (live > 0) list.splice(0, live);
    return live;
  }
}
