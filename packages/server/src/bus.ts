import type { PresenceMember, RoomPosition } from '@tether/protocol';
/**
 * The `Bus` interface: everything a Tether node shares with other nodes. `MemoryBus` implements
 * it inside one process (the single-node default, and several nodes in one test process);
 * `RedisBus` (@tether/redis-bus) implements it across processes and machines.
 *
 * The server core uses only this interface, so every feature that must hold across nodes
 * (room delivery, history and recovery, request dedup, sessions, presence, rate limits,
 * routing to the node that holds a connection) is written once. The contract suite in
 * packages/server/test/bus-contract.ts (`busContract`) runs against every implementation.
 */

import type { OutcomeStore } from './outcome-store.js';

export type { RoomPosition };

/**
 * How much history a room keeps: messages younger than `ttlMs`, at most `size` of them and, with
 * `maxBytes`, at most that many bytes of message bodies (the oldest go first; the newest message
 * always stays). `false` in a `Publication` keeps none (offsets still advance). See
 * docs/delivery-guarantees.md for the defaults and what they cost.
 */
export interface HistoryPolicy {
  /** Most messages kept per room (the newest ones). */
  size: number;
  /** How long a message stays in history, in ms. */
  ttlMs: number;
  /** Most bytes of message bodies (event, room and data as JSON) kept per room. None when absent. */
  maxBytes?: number;
}

/** What a publisher hands to the bus. */
export interface Publication {
  room: string;
  event: string;
  data: unknown;
  /** History retention for this message's room; `false` stores nothing. */
  history: HistoryPolicy | false;
  /** Idempotency key: a second publish with the same `id` within `dedupTtlMs` is dropped. */
  id?: string;
  /** Window for `id` in ms (the bus's own default applies when absent). */
  dedupTtlMs?: number;
  /** Volatile: not stored, and takes no offset of its own (carries the latest durable offset). */
  volatile?: boolean;
  /** Connection ids that must not receive it (the sender of `conn.to(room).emit`). */
  except?: readonly string[];
  /** Goes ahead of queued messages on congested connections. A bus copies it to the `Delivery` and history. */
  urgent?: boolean;
  /** Latest-value-wins key (see docs/messaging.md). A bus copies it to the `Delivery` and history. */
  conflate?: string;
}

/** A room message as the bus hands it to every subscribed node, and as history returns it. */
export interface Delivery {
  room: string;
  event: string;
  data: unknown;
  epoch: string;
  offset: number;
  volatile?: boolean;
  except?: readonly string[];
  /** As in `Publication`. */
  urgent?: boolean;
  conflate?: string;
}

export interface PublishResult extends RoomPosition {
  /** True when `id` was seen within the window: nothing was published. */
  duplicate: boolean;
}

/** Answer of `history()`. */
export interface HistoryPage extends RoomPosition {
  /** Messages after the asked position, oldest first, at most `limit`. Empty without a position. */
  messages: Delivery[];
  /**
   * True when `messages` holds every message after the asked position: same epoch, nothing
   * trimmed or expired in between, and no more than `limit` of them.
   */
  complete: boolean;
}

/** A presence entry: which connection, and the public data the app chose for it. */
export type { PresenceMember };

export type BusStatus = 'up' | 'down';

/** What a node gives the bus when it attaches: where to deliver. */
export interface BusNode {
  readonly nodeId: string;
  /** A message for a room this node subscribed to. Called in publish order per room. */
  onRoomMessage(delivery: Delivery): void;
  /** A payload `sendToNode` addressed to this node. */
  onNodeMessage(payload: unknown): void;
  /** The bus lost or regained its backing store. */
  onStatus?(status: BusStatus): void;
}

/** A node's membership in the bus, returned by `attach`. */
export interface BusLink {
  /** Start receiving a room's messages (the node has local members). Idempotent. */
  subscribe(room: string): Promise<void>;
  /** Stop receiving a room's messages (the last local member left). Idempotent. */
  unsubscribe(room: string): Promise<void>;
  /** Leave the bus: unsubscribe everything, drop this node's presence entries. */
  detach(): Promise<void>;
}

/**
 * Cross-node services. Methods reject with a `TetherError` whose code is `BUS_UNAVAILABLE`
 * when the backing store cannot be reached, never silently.
 *
 * @example
 * const link = await bus.attach({ nodeId: 'a', onRoomMessage: deliver, onNodeMessage: route });
 * await link.subscribe('order:42');
 * await bus.publish({ room: 'order:42', event: 'status', data: {}, history: { size: 100, ttlMs: 120_000 } });
 */
export interface Bus {
  readonly status: BusStatus;
  attach(node: BusNode): Promise<BusLink>;
  /** Publishes to a room: assigns the offset, stores history, delivers to every subscribed node once, in order. */
  publish(publication: Publication): Promise<PublishResult>;
  /** The room's current position and, given a position, the messages after it. */
  history(room: string, after: RoomPosition | undefined, limit: number): Promise<HistoryPage>;
  /** Delivers a JSON-able payload to one node's `onNodeMessage`. Resolves once handed over (not processed). */
  sendToNode(nodeId: string, payload: unknown): Promise<void>;

  /**
   * Optional: a request-outcome store that beats JSON strings in `get`/`set` (MemoryBus keeps
   * objects in process). Without it, request dedup stores outcomes as JSON through `set`/`get`.
   */
  readonly outcomes?: OutcomeStore;

  /** Small shared values with expiry: sessions, request dedup. */
  get(key: string): Promise<string | undefined>;
  /** Sets a value; with `ifAbsent`, only when the key does not exist. Resolves true when it was set. */
  set(key: string, value: string, ttlMs: number, options?: { ifAbsent?: boolean }): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Adds 1 to a counter and returns the new value; a new counter expires after `ttlMs` (fixed window). */
  increment(key: string, ttlMs: number): Promise<number>;

  /** Presence: members are dropped with their node (detach, or a crashed node's expiry). */
  addMember(room: string, nodeId: string, member: PresenceMember): Promise<void>;
  removeMember(room: string, connId: string): Promise<void>;
  members(room: string): Promise<PresenceMember[]>;

  /** Releases every resource. A bus shared by several nodes closes when its owner says so. */
  close(): Promise<void>;
}
