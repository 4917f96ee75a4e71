import type { Delivery } from './bus.js';

/** A connection's place in one room. */
export interface RoomMembership {
  readonly room: string;
  /** Last offset delivered to this connection, to drop a message seen twice. */
  offset: number;
  epoch: string;
  /**
   * The epoch the client was last told for this room (in `joined`, or a message's `ep`). Room
   * frames leave the epoch out while it stays this one, so a broadcast is one frame for all.
   */
  told: string;
  /**
   * The last in-order offset written to the client (overtaking ones aside): a room frame says
   * which offset came before it (`p`) when that is not its own offset - 1.
   */
  sent: number;
  /** Offsets up to here were written, sent ahead or passed over on purpose (see room-frame.ts). */
  skipped: number;
  /** While a join replays history, live messages wait here so they follow it. */
  pending: Delivery[] | null;
}

/**
 * A connection's rooms: one membership as itself, a few in a list up to `LISTED_ROOMS`, searched
 * in order, then a Map. Most connections are in a room or two: a lone membership needs no array
 * (56 bytes), and a short list costs a fraction of a Map (whose empty table alone is 152 bytes)
 * while a scan of a few names is as fast as hashing one. A plain value the engine owns, so an idle
 * connection carries no object of its own for it.
 */
export type RoomMemberships = RoomMembership | RoomMembership[] | Map<string, RoomMembership> | undefined;

const LISTED_ROOMS = 8;

/**
 * The membership of `room`, or undefined.
 *
 * @example
 * const membership = findMembership(rooms, 'lobby');
 */
export function findMembership(rooms: RoomMemberships, room: string): RoomMembership | undefined {
  if (rooms === undefined) return undefined;
  if (Array.isArray(rooms)) {
    for (let i = 0; i < rooms.length; i++) if (rooms[i]!.room === room) return rooms[i];
    return undefined;
  }
  if (rooms instanceof Map) return rooms.get(room);
  return rooms.room === room ? rooms : undefined;
}

/**
 * A new membership whose live messages wait (`pending`) until its join completes.
 *
 * @example
 * rooms = addMembership(rooms, newMembership('lobby'));
 */
export function newMembership(room: string): RoomMembership {
  return { room, offset: 0, epoch: '', told: '', sent: 0, skipped: 0, pending: [] };
}

/**
 * Adds a membership (the caller checked it is new); returns the value to keep.
 *
 * @example
 * rooms = addMembership(rooms, newMembership(room));
 */
export function addMembership(rooms: RoomMemberships, membership: RoomMembership): RoomMemberships {
  if (rooms === undefined) return membership;
  if (rooms instanceof Map) return rooms.set(membership.room, membership);
  if (!Array.isArray(rooms)) return [rooms, membership];
  // A copy at its exact size: a push would grow the list by 16 slots.
  if (rooms.length < LISTED_ROOMS) return rooms.concat(membership);
  return new Map([...rooms, membership].map((m) => [m.room, m]));
}

/**
 * Removes `room`'s membership; returns the value to keep, or `false` when it was not there.
 *
 * @example
 * const rest = removeMembership(rooms, 'lobby'); if (rest !== false) rooms = rest;
 */
export function removeMembership(rooms: RoomMemberships, room: string): RoomMemberships | false {
  if (rooms === undefined) return false;
  if (rooms instanceof Map) return rooms.delete(room) ? rooms : false;
  if (!Array.isArray(rooms)) return rooms.room === room ? undefined : false;
  const at = rooms.findIndex((m) => m.room === room);
  if (at < 0) return false;
  if (rooms.length === 1) return undefined;
  rooms.splice(at, 1);
  return rooms;
}

/**
 * The names of the rooms.
 *
 * @example
 * for (const room of roomNames(rooms)) leave(room);
 */
export function roomNames(rooms: RoomMemberships): IterableIterator<string> {
  if (rooms instanceof Map) return rooms.keys();
  if (rooms === undefined) return [].values();
  return (Array.isArray(rooms) ? rooms : [rooms]).map((m) => m.room).values();
}

/**
 * How many rooms.
 *
 * @example
 * if (roomCount(rooms) >= max) refuse();
 */
export function roomCount(rooms: RoomMemberships): number {
  if (rooms === undefined) return 0;
  if (Array.isArray(rooms)) return rooms.length;
  return rooms instanceof Map ? rooms.size : 1;
}
