/**
 * Frames waiting for a connection, oldest first, bounded: while the client is offline, emits
 * queue here and leave in order once it is open again.
 *
 * @example
 * const outbox = new Outbox<string>(1000);
 * outbox.push(frame); // false when full
 * for (const f of outbox.drain()) socket.send(f);
 */
export class Outbox<T> {
  #items: T[] = [];
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Queues an item; false (and nothing queued) when the outbox is full. */
  push(item: T): boolean {
    if (this.#items.length >= this.#capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** Takes every item out, oldest first. */
  drain(): T[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }

  get size(): number {
    return this.#items.length;
  }

  clear(): void {
    this.#items = [];
  }
}
