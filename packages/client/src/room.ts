import {
  ErrorCode,
  type JoinResult,
  type Position,
  type PresenceMember,
  type RoomMessage,
  TetherError,
} from '@tether/protocol';
import { Emitter } from './emitter.js';
import { RoomCursor } from './room-cursor.js';
import type { EventData, EventMap, PresenceData, ServerEventName, UnknownEvents } from './typed-events.js';

/** What a room message's listeners get beside the data. */
export interface MessageMeta {
  room: string;
  /** Position in the room's history: distinct per durable message, increasing. */
  offset: number;
  /** The history lineage the offset belongs to. */
  epoch: string;
  /** True for volatile messages (they repeat the last durable offset). */
  volatile: boolean;
  /** Set only for durable notifications (`NotificationMeta`), never for room messages. */
  id?: undefined;
  notification?: undefined;
}

/**
 * What `room.on('tether:presence', (change) => ...)` gets: `join`, `leave`, or `reconnect` (a
 * member's connection dropped and its session came back within the server's grace period: no
 * `leave`/`join` was announced; replace `previousConnId` with `member.connId`).
 */
export type PresenceEvent<P = unknown> =
  | { type: 'join' | 'leave'; member: PresenceMember<P> }
  | { type: 'reconnect'; member: PresenceMember<P>; previousConnId: string };

/** A member of a room, as presence reports it (one shape on the wire, the bus and the client). */
export type { PresenceMember };

/**
 * What `room.on('tether:left', (info) => ...)` gets when the server took the client out of the
 * room: `code` is `JOIN_REFUSED` when a credentials refresh (`authorizeJoin` asked again) lost
 * it, undefined when the app's server code left it (`conn.leave`).
 */
export interface LeftInfo {
  code: string | undefined;
}

/** Outcome of a rejoin after a reconnect. */
export interface RejoinInfo {
  /** True when every message missed while away was delivered; false when history no longer reached back. */
  recovered: boolean;
}

/**
 * Where a room handle stands; `room.on('tether:state', (state) => ...)` tells every change.
 *
 * ```
 * joining -answer-> joined -connection dropped-> rejoining -answer-> joined
 * joining|rejoining -server refused the (re)join-> refused
 * any -room.leave(), client.close(), or the server removed the connection from the room-> left
 * ```
 * `left` and `refused` are final: the handle gets no more messages and its listeners are dropped
 * (after they heard of the change); `client.join(name)` makes a new handle.
 */
export type RoomState = 'joining' | 'joined' | 'rejoining' | 'left' | 'refused';

/** The two states a handle ends in. */
export type RoomEnd = Extract<RoomState, 'left' | 'refused'>;

/** What a room needs from the registry that made it. */
export interface RoomHost {
  /** The handle left: forget it and tell the server. */
  forget(room: Room<EventMap>): void;
  presenceOf(room: string): Promise<PresenceMember[]>;
}

type Listener = (data: unknown, meta: MessageMeta) => void;

/**
 * A joined room. Its listeners stay across reconnects: the client rejoins and resumes from the
 * last offset it saw, so missed messages arrive in order, once, before new ones. When history
 * no longer reaches back, `tether:rejoined` reports `{ recovered: false }` and the app refetches.
 *
 * @example
 * const room = await client.join('order:42');
 * room.on('status', (data, meta) => render(data, meta.offset));
 * room.on('tether:rejoined', ({ recovered }) => { if (!recovered) refetch(); });
 */
export class Room<E extends EventMap = UnknownEvents> {
  readonly name: string;
  #state: RoomState = 'joining';
  readonly #cursor = new RoomCursor();
  #recovered: boolean | undefined;
  readonly #messages = new Emitter<Record<string, [unknown, MessageMeta]>>();
  readonly #lifecycle = new Emitter<{
    'tether:rejoined': [RejoinInfo];
    'tether:state': [RoomState];
    'tether:left': [LeftInfo];
  }>();
  readonly #host: RoomHost;
  /** Messages held back until the joiner's `await client.join()` continuation has run. */
  #held: Array<RoomMessage | (() => void)> | null = null;
  #releaseTimer: ReturnType<typeof setTimeout> | undefined;

  /** @internal created by `client.join`. */
  constructor(name: string, host: RoomHost) {
    this.name = name;
    this.#host = host;
  }

  get state(): RoomState {
    return this.#state;
  }

  /** Epoch and offset of the last in-order message seen: where a rejoin resumes. */
  get position(): Position {
    return [this.#cursor.epoch, this.#cursor.offset];
  }

  /** @internal the epoch of the position, without a new object per message. */
  get epoch(): string {
    return this.#cursor.epoch;
  }

  /** The last rejoin's or resume's outcome (false after a reported loss); undefined until one happened. */
  get recovered(): boolean | undefined {
    return this.#recovered;
  }

  /**
   * Listens to a room event (`data`, `meta`), to `tether:presence` (members joining and leaving),
   * to `tether:rejoined`, to `tether:state` (every change of `state`), or to `tether:left` (the
   * server took the client out of the room: the handle is then `left`). Returns a function that
   * removes the listener.
   */
  on(event: 'tether:rejoined', listener: (info: RejoinInfo) => void): () => void;
  on(event: 'tether:state', listener: (state: RoomState) => void): () => void;
  on(event: 'tether:left', listener: (info: LeftInfo) => void): () => void;
  on(
    event: 'tether:presence',
    listener: (change: PresenceEvent<PresenceData<E>>, meta: MessageMeta) => void,
  ): () => void;
  on<K extends ServerEventName<E>>(
    event: K,
    listener: (data: EventData<E, K>, meta: MessageMeta) => void,
  ): () => void;
  on(event: string, listener: (...args: never[]) => void): () => void {
    return this.#emitterOf(event).on(event, listener as Listener);
  }

  off(event: string, listener?: (...args: never[]) => void): void {
    this.#emitterOf(event).off(event, listener as Listener | undefined);
  }

  /** Members of this room on every node. */
  presence(): Promise<PresenceMember<PresenceData<E>>[]> {
    if (this.#ended()) {
      const code = this.#state === 'left' ? ErrorCode.Closed : ErrorCode.JoinRefused;
      return Promise.reject(new TetherError(code, `room "${this.name}": ${this.#state}`));
    }
    return this.#host.presenceOf(this.name) as Promise<PresenceMember<PresenceData<E>>[]>;
  }

  /** Leaves the room; its listeners hear `tether:state` `'left'`, then are dropped. */
  leave(): void {
    if (this.#ended()) return;
    this.end('left');
    this.#host.forget(this as unknown as Room<EventMap>);
  }

  // ---- internal: driven by the client ------------------------------------------------------

  /** @internal the server took the connection out of the room (`left`): say why, then end as `left`. */
  removed(code: string | undefined): void {
    if (this.#ended()) return;
    this.#lifecycle.emit('tether:left', { code });
    this.end('left');
  }

  /** @internal a position kept from an earlier page: the first join resumes from it. */
  resumeFrom(position: Position): void {
    this.#cursor.reset(position[0], position[1]);
  }

  /**
   * @internal the handle is done: left (by the app, the client's close or the server) or refused.
   * Listeners hear the change, then are dropped.
   */
  end(state: RoomEnd): void {
    if (this.#ended()) return;
    clearTimeout(this.#releaseTimer);
    this.#held = null;
    this.#setState(state);
    this.#messages.clear();
    this.#lifecycle.clear();
  }

  /** @internal the join (or rejoin) was answered. */
  joined(result: JoinResult, firstJoin: boolean): void {
    if (this.#ended()) return;
    const rejoin = this.#state === 'rejoining';
    this.#setState('joined');
    if (result.rec === 1) {
      // Missed messages follow this reply: keep the position, they continue from it.
      this.#recovered = true;
    } else {
      if (result.rec === 0) this.#recovered = false;
      this.#cursor.reset(result.ep, result.off);
    }
    if (firstJoin) {
      // In Node, frames that arrived together are handled in one task, before the joiner's
      // `await` resumes and adds listeners: hold messages until the next task.
      this.#held = [];
      this.#releaseTimer = setTimeout(() => this.#release(), 0);
    }
    if (rejoin && result.rec !== undefined)
      this.#lifecycle.emit('tether:rejoined', { recovered: result.rec === 1 });
  }

  /** @internal the connection dropped: the next connection rejoins from `position`. */
  suspend(): void {
    // A first join still in flight is simply sent again; only joined rooms resume from a position.
    if (this.#state === 'joined') this.#setState('rejoining');
  }

  /** @internal true when in-order offsets were skipped before this message: a gap to fill. */
  jumps(message: RoomMessage): boolean {
    return this.#state === 'joined' && this.#cursor.gapBefore(message);
  }

  /**
   * @internal messages were lost and could not be recovered (the server said so, or a resume
   * failed): the room goes on from the next message and its listeners are told.
   */
  lost(report: () => void): void {
    if (this.#ended()) return;
    this.#setState('joined');
    this.#recovered = false;
    const tell = () => {
      this.#lifecycle.emit('tether:rejoined', { recovered: false });
      report();
    };
    // Behind messages still held for the joiner: the report keeps its place among them.
    if (this.#held) this.#held.push(tell);
    else tell();
  }

  /**
   * @internal a message for this room; returns false when it is a duplicate (already seen), or
   * while the room is rejoining (the rejoin's replay brings it again).
   */
  accept(message: RoomMessage): boolean {
    if (this.#ended() || this.#state === 'rejoining' || !this.#cursor.admit(message)) return false;
    if (this.#held) this.#held.push(message);
    else this.#dispatch(message);
    return true;
  }

  /** Lifecycle events (`tether:rejoined`, `tether:state`) or message events, by name. */
  #emitterOf(event: string): Emitter<Record<string, never[]>> {
    const lifecycle = event === 'tether:rejoined' || event === 'tether:state' || event === 'tether:left';
    return (lifecycle ? this.#lifecycle : this.#messages) as unknown as Emitter<Record<string, never[]>>;
  }

  #ended(): boolean {
    return this.#state === 'left' || this.#state === 'refused';
  }

  /** Every change of `state` goes through here, so `tether:state` tells each one. */
  #setState(state: RoomState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#lifecycle.emit('tether:state', state);
  }

  #release(): void {
    const held = this.#held;
    this.#held = null;
    for (const item of held ?? []) typeof item === 'function' ? item() : this.#dispatch(item);
  }

  #dispatch(message: RoomMessage): void {
    this.#messages.emit(message.e, message.d, metaOf(message, message.ep ?? this.#cursor.epoch));
  }
}

/** @internal what a listener learns of a room message besides its data. */
export function metaOf(message: RoomMessage, epoch: string): MessageMeta {
  return { room: message.r, offset: message.off, epoch, volatile: message.v === 1 };
}
