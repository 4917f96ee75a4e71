import type { PresenceMember } from '@tether/server';
import type { Client, CommandConnection } from './connection.js';
import type { KeySpace } from './keys.js';

/**
 * Presence on Redis: a hash per room (field: connId, value: node id and data), node liveness
 * keys that hide the entries of nodes that stopped refreshing them, and the copy a RedisBus keeps
 * of the entries its own nodes added. That copy is what makes presence heal after Redis lost its
 * data: the bus writes its entries back as soon as Redis is reachable again.
 */

/** One decoded hash field. */
export interface StoredMember {
  nodeId: string;
  member: PresenceMember;
}

/**
 * Encodes a presence hash value.
 *
 * @example
 * encodeMember('node-a', { connId: 'c1', data: { name: 'Ann' } }); // '{"n":"node-a","d":{"name":"Ann"}}'
 */
export function encodeMember(nodeId: string, member: PresenceMember): string {
  return JSON.stringify({ n: nodeId, d: member.data });
}

/**
 * Decodes a presence hash field; `undefined` for a value this version did not write.
 *
 * @example
 * decodeMember('c1', '{"n":"node-a","d":1}'); // { nodeId: 'node-a', member: { connId: 'c1', data: 1 } }
 */
export function decodeMember(connId: string, value: string): StoredMember | undefined {
  try {
    const parsed = JSON.parse(value) as { n?: unknown; d?: unknown };
    if (typeof parsed?.n !== 'string') return undefined;
    return { nodeId: parsed.n, member: { connId, data: parsed.d } };
  } catch {
    return undefined;
  }
}

/**
 * The entries added through one RedisBus, by node, room and connection.
 *
 * @example
 * const local = new LocalMembers();
 * local.add('node-a', 'room', 'c1', encoded);
 * local.rooms('node-a'); // [['room', ['c1', encoded]]]
 */
export class LocalMembers {
  readonly #byNode = new Map<string, Map<string, Map<string, string>>>();

  add(nodeId: string, room: string, connId: string, encoded: string): void {
    let rooms = this.#byNode.get(nodeId);
    if (!rooms) this.#byNode.set(nodeId, (rooms = new Map()));
    let members = rooms.get(room);
    if (!members) rooms.set(room, (members = new Map()));
    members.set(connId, encoded);
  }

  /** Forgets `connId` in `room`, whichever node added it. */
  remove(room: string, connId: string): void {
    for (const rooms of this.#byNode.values()) {
      const members = rooms.get(room);
      if (!members?.delete(connId)) continue;
      if (members.size === 0) rooms.delete(room);
    }
  }

  /** A node's entries: room, then field/value pairs ready for HSET. */
  rooms(nodeId: string): Array<[room: string, fields: string[]]> {
    const rooms = this.#byNode.get(nodeId);
    if (!rooms) return [];
    return [...rooms].map(([room, members]) => [room, [...members].flat()]);
  }

  /** Every room where some node of this bus has entries. */
  allRooms(): Set<string> {
    const all = new Set<string>();
    for (const rooms of this.#byNode.values()) for (const room of rooms.keys()) all.add(room);
    return all;
  }

  /** Forgets a node's entries and returns them as room -> connIds. */
  takeNode(nodeId: string): Array<[room: string, connIds: string[]]> {
    const rooms = this.#byNode.get(nodeId);
    this.#byNode.delete(nodeId);
    if (!rooms) return [];
    return [...rooms].map(([room, members]) => [room, [...members.keys()]]);
  }

  clear(): void {
    this.#byNode.clear();
  }
}

/** What a {@link Presence} needs from its bus. */
export interface PresenceOptions {
  keys: KeySpace;
  cmd: CommandConnection;
  /** Liveness TTL of a node. */
  nodeTtlMs: number;
  /** Whether a node is attached to this bus instance (only those entries are kept and renewed). */
  isAttached: (nodeId: string) => boolean;
}

/**
 * The presence half of a RedisBus.
 *
 * @example
 * const presence = new Presence({ keys, cmd, nodeTtlMs: 15_000, isAttached });
 * await presence.add('room', 'node-a', { connId: 'c1', data: null });
 * await presence.list('room'); // members of live nodes only
 */
export class Presence {
  readonly #options: PresenceOptions;
  readonly #local = new LocalMembers();

  constructor(options: PresenceOptions) {
    this.#options = options;
  }

  /** Hash expiry: outlives a few missed heartbeats of the nodes renewing it; an abandoned hash goes away. */
  get hashTtlMs(): number {
    return this.#options.nodeTtlMs * 2;
  }

  async add(room: string, nodeId: string, member: PresenceMember): Promise<void> {
    const key = this.#options.keys.room(room).presence;
    const encoded = encodeMember(nodeId, member);
    await this.#options.cmd.run((redis) =>
      Promise.all([redis.hset(key, member.connId, encoded), redis.pexpire(key, this.hashTtlMs)]),
    );
    // Kept so detach can remove it and a Redis that lost its data can be given it back.
    if (this.#options.isAttached(nodeId)) this.#local.add(nodeId, room, member.connId, encoded);
  }

  async remove(room: string, connId: string): Promise<void> {
    this.#local.remove(room, connId);
    await this.#options.cmd.run((redis) => redis.hdel(this.#options.keys.room(room).presence, connId));
  }

  /** Members of live nodes; entries of dead nodes are hidden at once and deleted by this read. */
  async list(room: string): Promise<PresenceMember[]> {
    const { keys, cmd } = this.#options;
    const key = keys.room(room).presence;
    const fields = await cmd.run((redis) => redis.hgetall(key));
    const entries = Object.entries(fields).map(([connId, value]) => ({
      connId,
      stored: decodeMember(connId, value),
    }));
    const nodeIds = [...new Set(entries.flatMap((e) => (e.stored ? [e.stored.nodeId] : [])))];
    const alive = await cmd.run((redis) =>
      Promise.all(nodeIds.map((id) => redis.exists(keys.nodeAlive(id)))),
    );
    const live = new Set(nodeIds.filter((_, i) => alive[i] === 1));
    const stale = entries.filter((e) => !e.stored || !live.has(e.stored.nodeId)).map((e) => e.connId);
    if (stale.length > 0) cmd.run((redis) => redis.hdel(key, ...stale)).catch(() => {});
    return entries.flatMap((e) => (e.stored && live.has(e.stored.nodeId) ? [e.stored.member] : []));
  }

  /** Writes a node's liveness key and every entry it added (after a reconnection or a lost key). */
  async writeNode(redis: Client, nodeId: string): Promise<void> {
    const { keys, nodeTtlMs } = this.#options;
    await Promise.all([
      redis.set(keys.nodeAlive(nodeId), '1', 'PX', nodeTtlMs),
      ...this.#local.rooms(nodeId).map(([room, fields]) => {
        const key = keys.room(room).presence;
        return Promise.all([redis.hset(key, ...fields), redis.pexpire(key, this.hashTtlMs)]);
      }),
    ]);
  }

  /** Renews liveness keys and hash expiries; a node whose key had vanished gets everything written back. */
  async heartbeat(redis: Client, nodeIds: readonly string[]): Promise<void> {
    const { keys, nodeTtlMs, isAttached } = this.#options;
    await Promise.all([
      ...nodeIds.map(async (nodeId) => {
        const previous = await redis.call('SET', keys.nodeAlive(nodeId), '1', 'PX', nodeTtlMs, 'GET');
        // Gone: a stall longer than nodeTtlMs, or Redis lost it. Either way the entries may be gone too.
        if (previous === null && isAttached(nodeId)) await this.writeNode(redis, nodeId);
      }),
      ...[...this.#local.allRooms()].map((room) => redis.pexpire(keys.room(room).presence, this.hashTtlMs)),
    ]);
  }

  /** Forgets a detaching node; deletes its liveness key and entries when Redis is reachable. */
  async dropNode(nodeId: string): Promise<void> {
    const { keys, cmd } = this.#options;
    const rooms = this.#local.takeNode(nodeId);
    if (!cmd.isReady) return; // its liveness key expires and hides the entries anyway
    await cmd
      .run((redis) =>
        Promise.all([
          redis.del(keys.nodeAlive(nodeId)),
          ...rooms.map(([room, connIds]) => redis.hdel(keys.room(room).presence, ...connIds)),
        ]),
      )
      .catch(() => {});
  }

  clear(): void {
    this.#local.clear();
  }
}
