import {
  type Codec,
  ErrorCode,
  type Frame,
  type JoinResult,
  MAX_NAME_LENGTH,
  type Position,
  type PresenceMember,
  type RoomMessage,
  TetherError,
} from '@tether/protocol';
import { nanoid } from 'nanoid';
import type { Emitter } from './emitter.js';
import type { PersistenceStore, StoredState } from './persistence-types.js';
import { metaOf, Room, type RoomHost } from './room.js';
import { RoomCursor } from './room-cursor.js';
import type { EventMap } from './typed-events.js';

/** A reply as the client core hands it on: the data, or the error code and message. */
export type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/** What the registry needs from the connection that carries it. */
export interface RegistryLink {
  readonly codec: Codec;
  /** True while the connection is open (welcomed): joins go out now, else on the next welcome. */
  isOpen(): boolean;
  send(frame: Frame): void;
  request(event: string, data: unknown): Promise<unknown>;
  /** The session to keep beside the positions, when persistence keeps it. */
  session(): StoredState['session'];
}

/** A join in flight: the app's first join has `resolve`/`reject`; a rejoin after a reconnect has neither. */
interface JoinWaiter {
  room: Room<EventMap>;
  resolve?: (room: Room<EventMap>) => void;
  reject?: (err: Error) => void;
}

/**
 * Every room the client is in and where each stands: handles from `client.join` with their join
 * waiters and rejoins, cursors of rooms the server joined this session to, and positions kept
 * from an earlier page. The client class only tells it when the connection opens, drops or
 * closes, and hands it room frames.
 *
 * @example
 * const rooms = new RoomRegistry(link, events, store, saved);
 * const room = await rooms.join('chat:1');
 * rooms.onMessage(message); // from the connection's frame switch
 */
export class RoomRegistry implements RoomHost {
  readonly #link: RegistryLink;
  readonly #events: Emitter<Record<string, unknown[]>>;
  readonly #store: PersistenceStore | undefined;
  /** Handles from `client.join`, by name. */
  readonly #rooms = new Map<string, Room<EventMap>>();
  /** Joins and rejoins waiting for their reply, by request id. */
  readonly #joins = new Map<string, JoinWaiter>();
  /** Rooms the server joined this client to, with where each stands (sent in `hello`). */
  readonly #serverRooms = new Map<string, RoomCursor>();
  /** Positions from storage for rooms not joined yet in this page. */
  readonly #stored = new Map<string, Position>();
  /** Rooms resuming after offsets jumped, by the resume's request id; their messages wait. */
  readonly #resyncs = new Map<string, string>();

  constructor(
    link: RegistryLink,
    events: Emitter<Record<string, unknown[]>>,
    store: PersistenceStore | undefined,
    saved: StoredState | undefined,
  ) {
    this.#link = link;
    this.#events = events;
    this.#store = store;
    if (!saved) return;
    for (const [room, position] of Object.entries(saved.rooms)) this.#stored.set(room, position);
    for (const [room, [epoch, offset]] of Object.entries(saved.serverRooms))
      this.#serverCursor(room).reset(epoch, offset);
  }

  /** Joins a room, resuming from a stored position when there is one. */
  join(name: string): Promise<Room<EventMap>> {
    // The wire carries 1-256 characters; sending more would get the connection closed, and the
    // rejoin after the reconnect would do it again.
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
      return Promise.reject(
        new TetherError(ErrorCode.InvalidRoom, `room names are 1-${MAX_NAME_LENGTH} characters`),
      );
    }
    const existing = this.#rooms.get(name);
    if (existing && existing.state !== 'left') return Promise.resolve(existing);
    const room = new Room<EventMap>(name, this);
    const stored = this.#stored.get(name);
    if (stored) room.resumeFrom(stored);
    this.#rooms.set(name, room);
    return new Promise((resolve, reject) => this.#sendJoin({ room, resolve, reject }));
  }

  /** Positions of server-joined rooms for `hello`, or undefined when there are none. */
  serverPositions(): Record<string, Position> | undefined {
    if (this.#serverRooms.size === 0) return undefined;
    const positions: Record<string, Position> = {};
    for (const [room, cursor] of this.#serverRooms) positions[room] = [cursor.epoch, cursor.offset];
    return positions;
  }

  /** Asks storage to save positions soon (it coalesces). */
  persist(): void {
    this.#store?.schedule(this.#snapshot);
  }

  // ---- driven by the connection ----------------------------------------------------------

  /**
   * A room message: to the room's handle (if the app joined it) and to `client.on(event)`.
   * Runs for every message the client receives: no allocation here beyond the listener's meta.
   */
  onMessage(message: RoomMessage): void {
    this.#store?.schedule(this.#snapshot);
    const room = this.#rooms.get(message.r);
    let epoch: string;
    if (room) {
      if (room.jumps(message)) {
        // Offsets jumped: resume from the position (the replay brings this one again).
        room.suspend();
        this.#resync(message.r, room.position);
        return;
      }
      if (!room.accept(message)) return;
      epoch = room.epoch;
    } else if (message.v) {
      // Volatile messages never name an epoch: they take no position.
      epoch = this.#serverRooms.get(message.r)?.epoch ?? '';
    } else {
      // A room the server joined us to: track its position for recovery on the next connection.
      const cursor = this.#serverCursor(message.r);
      if (this.#resyncing(message.r)) return;
      if (cursor.gapBefore(message)) {
        this.#resync(message.r, [cursor.epoch, cursor.offset]);
        return;
      }
      if (!cursor.admit(message)) return;
      epoch = cursor.epoch;
    }
    this.#events.emit(message.e, message.d, metaOf(message, epoch));
  }

  /** The server joined this connection to a room (or rejoined it after a reconnect). */
  onJoined(room: string, result: JoinResult): void {
    this.persist();
    if (result.rec === 1) return; // missed messages follow; the known position stays valid
    if (result.rec === 0) this.#failed(room);
    this.#serverCursor(room).reset(result.ep, result.off);
  }

  /**
   * The server found messages of a room lost while this client stayed connected (its bus missed
   * them and history no longer had them): told before the first message after the gap.
   */
  onGap(name: string): void {
    const room = this.#rooms.get(name);
    if (room) {
      // A (re)join in flight reports for itself.
      if (room.state === 'joined') room.lost(() => this.#failed(name));
      return;
    }
    if (this.#serverRooms.has(name) && !this.#resyncing(name)) this.#failed(name);
  }

  /**
   * The server removed this connection from a room (`conn.leave`, or a credentials refresh that
   * lost it). A room the app joined is left too, and its handle says why (`tether:left`): `code`
   * is `JOIN_REFUSED` when a refresh lost it.
   */
  onLeft(room: string, code?: string): void {
    this.#serverRooms.delete(room);
    const handle = this.#rooms.get(room);
    if (!handle) return;
    this.#rooms.delete(room);
    this.#stored.delete(room);
    this.persist();
    handle.removed(code);
  }

  /** Settles a join waiting for this reply id; false when the id is not a join's. */
  settle(id: string, outcome: Outcome): boolean {
    const resumed = this.#resyncs.get(id);
    if (resumed !== undefined) {
      this.#resyncs.delete(id);
      this.#resumed(resumed, outcome);
      return true;
    }
    const join = this.#joins.get(id);
    if (!join) return false;
    this.#joins.delete(id);
    if (outcome.ok) {
      const result = outcome.data as JoinResult;
      join.room.joined(result, join.resolve !== undefined);
      if (result.rec === 0) this.#failed(join.room.name);
      join.resolve?.(join.room);
      return true;
    }
    if (this.#rooms.get(join.room.name) === join.room) this.#rooms.delete(join.room.name);
    join.room.end('refused');
    if (join.reject) join.reject(new TetherError(outcome.code, outcome.message));
    // A rejoin nobody awaits: the client's `error` listeners hear of it.
    else this.#rejoinFailed(join.room.name, outcome);
    return true;
  }

  /** The connection dropped: joined rooms wait to rejoin; rejoins in flight get no answer now. */
  suspend(): void {
    for (const room of this.#rooms.values()) room.suspend();
    for (const [id, waiter] of this.#joins) if (!waiter.resolve) this.#joins.delete(id);
    // Resumes in flight end: handles rejoin, server-joined rooms resume through `hello`.
    this.#resyncs.clear();
  }

  /** The connection is open (again): rejoin from the last positions, send the joins that waited. */
  resume(): void {
    for (const room of this.#rooms.values()) if (room.state === 'rejoining') this.#sendJoin({ room });
    for (const [id, waiter] of this.#joins) if (waiter.resolve) this.#sendJoinFrame(id, waiter.room);
  }

  /** The client closed: waiting joins reject, handles are left, positions saved first. */
  close(reason: TetherError): void {
    for (const waiter of this.#joins.values()) waiter.reject?.(reason);
    this.#joins.clear();
    // Save positions before the handles go: a later page resumes from them.
    this.#store?.dispose();
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    for (const room of rooms) room.leave();
    this.#serverRooms.clear();
  }

  // ---- RoomHost ------------------------------------------------------------------------------

  /** @internal a handle left its room. */
  forget(room: Room<EventMap>): void {
    if (this.#rooms.get(room.name) !== room) return;
    this.#rooms.delete(room.name);
    this.#stored.delete(room.name);
    this.persist();
    if (this.#link.isOpen()) this.#link.send(this.#link.codec.encode({ t: 'leave', r: room.name }));
  }

  /** @internal */
  presenceOf(room: string): Promise<PresenceMember[]> {
    return this.#link.request('tether:presence', { room }) as Promise<PresenceMember[]>;
  }

  // ---- inside --------------------------------------------------------------------------------

  #sendJoin(waiter: JoinWaiter): void {
    const id = nanoid();
    this.#joins.set(id, waiter);
    if (this.#link.isOpen()) this.#sendJoinFrame(id, waiter.room);
  }

  #sendJoinFrame(id: string, room: Room<EventMap>): void {
    this.#sendJoinOf(id, room.name, room.position);
  }

  #sendJoinOf(id: string, r: string, [epoch, offset]: Position): void {
    this.#link.send(
      this.#link.codec.encode(epoch ? { t: 'join', id, r, ep: epoch, off: offset } : { t: 'join', id, r }),
    );
  }

  #resyncing(room: string): boolean {
    // Runs per message of a server-joined room: no iterator made when nothing is resyncing.
    if (this.#resyncs.size === 0) return false;
    for (const name of this.#resyncs.values()) if (name === room) return true;
    return false;
  }

  /** Resumes a room the connection is in from `position` (a `join` of a room it is in). */
  #resync(room: string, position: Position): void {
    const id = nanoid();
    this.#resyncs.set(id, room);
    this.#sendJoinOf(id, room, position);
  }

  /** A resume was answered: as a rejoin's answer; a refusal is a loss (the room stays). */
  #resumed(name: string, outcome: Outcome): void {
    const room = this.#rooms.get(name);
    if (!outcome.ok) {
      const report = () => {
        this.#failed(name);
        this.#rejoinFailed(name, outcome);
      };
      if (room) room.lost(report);
      else report();
    } else if (room) {
      room.joined(outcome.data as JoinResult, false);
      if ((outcome.data as JoinResult).rec === 0) this.#failed(name);
    } else this.onJoined(name, outcome.data as JoinResult);
  }

  #failed(room: string): void {
    this.#events.emit('tether:recovery-failed', { room });
  }

  #rejoinFailed(room: string, outcome: Outcome & { ok: false }): void {
    this.#events.emit(
      'error',
      new TetherError(outcome.code, `rejoining "${room}" failed: ${outcome.message}`),
    );
  }

  #serverCursor(room: string): RoomCursor {
    let cursor = this.#serverRooms.get(room);
    if (!cursor) this.#serverRooms.set(room, (cursor = new RoomCursor()));
    return cursor;
  }

  readonly #snapshot = (): StoredState => {
    const rooms: Record<string, Position> = Object.fromEntries(this.#stored);
    for (const room of this.#rooms.values()) {
      const position = room.position;
      if (position[0]) rooms[room.name] = position;
    }
    return { rooms, serverRooms: this.serverPositions() ?? {}, session: this.#link.session() };
  };
}
