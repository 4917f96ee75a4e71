import type { RoomMessage } from '@tether/protocol';

/** Most out-of-order offsets and conflation keys remembered per room; the oldest go first. */
const MEMORY = 1_000;

/**
 * Where a room's stream stands for this client: the epoch, the in-order offset a rejoin resumes
 * after, and what arrived ahead of it. Decides, per room message, whether it is new.
 *
 * - Volatile (`v`): always new, never moves the position.
 * - In order: new when past the position (and not already seen ahead); moves the position.
 * - Out of order (`o`: it overtook older ones of the room, urgent or conflated): new when not
 *   seen yet; remembered, but the position stays, so the older ones still count and a rejoin
 *   still asks for them. Its replay from history is then recognized and dropped.
 * - Conflated (`k`): also stale when a newer value of the same event and key was seen.
 *
 * @example
 * const cursor = new RoomCursor();
 * if (cursor.admit(message)) dispatch(message);
 */
export class RoomCursor {
  epoch = '';
  offset = 0;
  /** Offsets seen ahead of `offset`. */
  #ahead: Set<number> | undefined;
  /** Newest offset seen per `event\0key`, for conflated messages ahead of `offset`. */
  #latest: Map<string, number> | undefined;

  /** Sets the position (a join's answer) and forgets what was seen ahead. */
  reset(epoch: string, offset: number): void {
    this.epoch = epoch;
    this.offset = offset;
    this.#ahead = this.#latest = undefined;
  }

  /**
   * True when in-order offsets were skipped before this message: the server says which offset
   * precedes it on this connection (`p`, else `off - 1`), and this client has not reached it.
   * Volatile, overtaking and new-epoch messages never count; neither does a cursor with no position.
   */
  gapBefore(m: RoomMessage): boolean {
    return (
      !m.v &&
      !m.o &&
      this.epoch !== '' &&
      (m.ep ?? this.epoch) === this.epoch &&
      this.offset < (m.p ?? m.off - 1)
    );
  }

  /** True when the message is new to this client; updates the position. */
  admit(message: RoomMessage): boolean {
    if (message.v) return true;
    const { off, ep } = message;
    // A message names its epoch only when it changed (a new history lineage: start over in it).
    if (ep !== undefined && ep !== this.epoch) this.reset(ep, message.o ? 0 : off - 1);
    else if (off <= this.offset) return false;
    const key = message.k === undefined ? undefined : `${message.e}\0${message.k}`;
    const stale = key !== undefined && (this.#latest?.get(key) ?? 0) >= off;
    if (message.o) {
      if (stale || this.#ahead?.has(off)) return false;
      const ahead = (this.#ahead ??= new Set());
      ahead.add(off);
      if (ahead.size > MEMORY) ahead.delete(ahead.values().next().value!);
      if (key !== undefined) {
        const latest = (this.#latest ??= new Map());
        latest.delete(key);
        latest.set(key, off);
        if (latest.size > MEMORY) latest.delete(latest.keys().next().value!);
      }
      return true;
    }
    const seen = this.#ahead?.delete(off) === true;
    this.offset = off;
    if (this.#ahead?.size) for (const o of this.#ahead) if (o <= off) this.#ahead.delete(o);
    if (this.#latest?.size) for (const [k, o] of this.#latest) if (o <= off) this.#latest.delete(k);
    return !seen && !stale;
  }
}
