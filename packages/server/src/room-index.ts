/**
 * Which local members each room has, and the reverse. Pure bookkeeping: no I/O, so the
 * server decides when a room's first member means "subscribe on the bus".
 *
 * @example
 * const index = new RoomIndex<Conn>();
 * if (index.add('lobby', conn)) await link.subscribe('lobby'); // first local member
 */
export class RoomIndex<Member> {
  readonly #members = new Map<string, Set<Member>>();

  /** Adds a member; true when it is the room's first local member. */
  add(room: string, member: Member): boolean {
    const set = this.#members.get(room);
    if (set) {
      set.add(member);
      return false;
    }
    this.#members.set(room, new Set([member]));
    return true;
  }

  /** Removes a member; true when the room has no local members left. */
  delete(room: string, member: Member): boolean {
    const set = this.#members.get(room);
    if (!set?.delete(member)) return false;
    if (set.size > 0) return false;
    this.#members.delete(room);
    return true;
  }

  members(room: string): ReadonlySet<Member> | undefined {
    return this.#members.get(room);
  }

  has(room: string): boolean {
    return this.#members.has(room);
  }

  get roomCount(): number {
    return this.#members.size;
  }

  rooms(): IterableIterator<string> {
    return this.#members.keys();
  }
}
