import { ErrorCode, isReservedEvent, TetherError } from '@tether/protocol';
import type { Bus } from './bus.js';
import type { InboxNotifyOptions, InboxNotifyResult } from './inbox.js';
import type { EventData, EventMap, EventName } from './typed-events.js';

/**
 * Which nodes serve a user, and the node messages that reach a user's connections there. The
 * directory is the bus's presence: a node with at least one connection of a user is an entry
 * (`connId` = node id) in the user's presence room, added with its first such connection and
 * removed with its last. A crashed node's entries vanish with it (the bus's node expiry), and a
 * RedisBus writes its own entries back after Redis lost its data.
 */

/** The node-message kind of every user message. */
export const USER_MESSAGE = 'user';

/** The `data` of a directory entry, so entries of a real room with this name are never taken for nodes. */
const NODE_MARK = 'tether:node';

/** A notification as it travels between nodes. */
export interface WireNotification {
  id: string;
  event: string;
  data: unknown;
  urgent: boolean;
}

/** What one node tells another about a user's connections there. */
export type UserNodeMessage =
  | { kind: typeof USER_MESSAGE; op: 'emit'; user: string; event: string; data: unknown }
  | { kind: typeof USER_MESSAGE; op: 'notify'; user: string; notes: WireNotification[] }
  | { kind: typeof USER_MESSAGE; op: 'disconnect'; user: string; reason: string };

/**
 * The presence room that lists the nodes serving `userId`.
 *
 * @example
 * userRoom('42'); // 'tether:user:42'
 */
export function userRoom(userId: string): string {
  return `tether:user:${userId}`;
}

/**
 * Adds this node to the user's directory entry.
 *
 * @example
 * await enterDirectory(bus, nodeId, '42');
 */
export function enterDirectory(bus: Bus, nodeId: string, userId: string): Promise<void> {
  return bus.addMember(userRoom(userId), nodeId, { connId: nodeId, data: NODE_MARK });
}

/**
 * Removes this node from the user's directory entry.
 *
 * @example
 * await leaveDirectory(bus, nodeId, '42');
 */
export function leaveDirectory(bus: Bus, nodeId: string, userId: string): Promise<void> {
  return bus.removeMember(userRoom(userId), nodeId);
}

/**
 * The ids of the nodes that have connections of `userId` open.
 *
 * @example
 * const nodes = await nodesOf(bus, '42');
 */
export async function nodesOf(bus: Bus, userId: string): Promise<string[]> {
  const members = await bus.members(userRoom(userId));
  const nodes = new Set<string>();
  for (const member of members) if (member.data === NODE_MARK) nodes.add(member.connId);
  return [...nodes];
}

/**
 * Hands `message` to every node that serves its user, except `skip` (the caller, which served
 * its own connections directly). Resolves once every node's message was handed to the bus.
 *
 * @example
 * await sendToUserNodes(bus, { kind: 'user', op: 'disconnect', user: '42', reason: 'banned' }, nodeId);
 */
export async function sendToUserNodes(bus: Bus, message: UserNodeMessage, skip?: string): Promise<void> {
  const nodes = await nodesOf(bus, message.user);
  await Promise.all(nodes.filter((node) => node !== skip).map((node) => bus.sendToNode(node, message)));
}

/**
 * A user key as text: `tether.user(42)` and `tether.user('42')` name the same user, as the
 * `userKey` option's numbers do.
 *
 * @example
 * userKeyString(42); // '42'
 */
export function userKeyString(key: string | number): string {
  const text = typeof key === 'number' && Number.isFinite(key) ? String(key) : key;
  if (typeof text !== 'string' || text.length === 0)
    throw new TypeError('a user key is a non-empty string or a finite number');
  return text;
}

/** The reason a disconnected client gets when the app gave none. */
export const DEFAULT_DISCONNECT_REASON = 'disconnected by the server';

/** What a {@link UserOperator} asks of whoever made it (a server or an emitter). */
export interface UserSender {
  emit(user: string, event: string, data: unknown): Promise<void>;
  notify(user: string, event: string, data: unknown, options: InboxNotifyOptions): Promise<InboxNotifyResult>;
  disconnect(user: string, reason: string): Promise<void>;
}

/**
 * One user's connections on every node: live events, durable notifications, disconnect.
 *
 * @example
 * tether.user('42').emit('badge', { n: 3 });
 * await tether.user('42').notify('order:status', { state: 'picked-up' }, { id: 'evt-981' });
 * await tether.user('42').disconnect('account closed');
 */
export class UserOperator<E extends EventMap> {
  readonly #user: string;
  readonly #sender: UserSender;

  /** @internal made by `tether.user()` and `emitter.user()`. */
  constructor(sender: UserSender, user: string) {
    this.#sender = sender;
    this.#user = user;
  }

  /** The user key this operator addresses. */
  get key(): string {
    return this.#user;
  }

  /**
   * Live, to every open connection of the user on every node; not stored (a user who is not
   * connected gets nothing). Resolves once every node serving the user was handed it.
   */
  emit<K extends EventName<E>>(event: K, data?: EventData<E, K>): Promise<void> {
    if (isReservedEvent(event))
      return Promise.reject(new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`));
    return this.#sender.emit(this.#user, event, data);
  }

  /**
   * Durable: stored in the inbox (resolves once it is), then delivered to every open connection
   * of the user on any node and to connections opened later, until a client acknowledges it or
   * `ttlMs` passes. `stored: false` in the result: the id was already known (nothing new is sent).
   */
  notify<K extends EventName<E>>(
    event: K,
    data?: EventData<E, K>,
    options: InboxNotifyOptions = {},
  ): Promise<InboxNotifyResult> {
    if (isReservedEvent(event))
      return Promise.reject(new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`));
    return this.#sender.notify(this.#user, event, data, options);
  }

  /**
   * Closes every connection of the user on every node with close code 4410 (`UserDisconnected`)
   * and `reason`; the clients go to `closed` and do not reconnect by themselves. Resolves once
   * every node was told.
   */
  disconnect(reason: string = DEFAULT_DISCONNECT_REASON): Promise<void> {
    return this.#sender.disconnect(this.#user, reason);
  }
}
