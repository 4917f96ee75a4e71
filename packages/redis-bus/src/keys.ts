/**
 * Every Redis key and pub/sub channel name RedisBus uses, in one place.
 *
 * Layout (prefix `tether:` by default):
 *
 * | name                              | type    | what                                               | expiry                        |
 * |-----------------------------------|---------|----------------------------------------------------|-------------------------------|
 * | `tether:{room}:meta`              | hash    | `epoch` and `seq` (the last durable offset)        | refreshed on each publish     |
 * | `tether:{room}:log`               | stream  | history; entry id `<offset>-0`, fields `b`, `x`     | history TTL, from last publish |
 * | `tether:{room}:dedup:<id>`        | string  | idempotency marker of a publish id                 | `dedupTtlMs`                  |
 * | `tether:{room}:presence`          | hash    | connId -> JSON `{ n: nodeId, d: data }`            | none (cleaned, see below)     |
 * | `tether:{room}:ch`                | channel | room deliveries                                    | -                             |
 * | `tether:node:{nodeId}:alive`      | string  | node liveness                                      | `nodeTtlMs`, refreshed        |
 * | `tether:node:{nodeId}:ch`         | channel | `sendToNode` payloads                              | -                             |
 * | `tether:bus:{instanceId}:ch`      | channel | delivery probes of one RedisBus instance           | -                             |
 * | `tether:bus:{instanceId.n}:ch`    | channel | (cluster) per-shard delivery probes of one instance | -                             |
 * | `tether:kv:{key}`                 | string  | `get`/`set`/`increment` values                     | the caller's TTL              |
 *
 * Hash tags: everything that belongs to one room carries the tag `{room}`, so in a Redis Cluster
 * all of a room's keys and its channel hash to the same slot. That is what lets the publish
 * script touch meta, log and dedup keys atomically in a cluster, and what lets the room channel
 * use sharded pub/sub there (`SSUBSCRIBE`, and `SPUBLISH` issued from the same script) without
 * changing a single name. Node and bus-instance names carry their own tags for the same
 * reason. A room name that itself contains `}` still works: every key of that room is built the
 * same way, so they still share one (shorter) tag. Only a name that is empty or starts with `}`
 * would give an empty tag `{}`, which Redis ignores; the server's room names can be neither (no
 * braces at all, at least one character). The prefix must not contain `{` or `}`, which would
 * move the tag; {@link validatePrefix} refuses it.
 */

/** The default key prefix. */
export const DEFAULT_PREFIX = 'tether:';

/**
 * Checks a key prefix; throws a `TypeError` when it could break the hash tags.
 *
 * @example
 * validatePrefix('myapp:tether:'); // ok
 */
export function validatePrefix(prefix: string): string {
  if (/[{}]/.test(prefix))
    throw new TypeError(`keyPrefix must not contain '{' or '}': ${JSON.stringify(prefix)}`);
  return prefix;
}

/** The keys of one room, all in the slot of `{room}`. */
export interface RoomKeys {
  meta: string;
  log: string;
  presence: string;
  channel: string;
  /** The idempotency marker of publish id `id`. */
  dedup(id: string): string;
}

/**
 * Builds every Redis name from one prefix.
 *
 * @example
 * const keys = new KeySpace('tether:');
 * keys.room('order:42').log; // 'tether:{order:42}:log'
 */
export class KeySpace {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = validatePrefix(prefix);
  }

  room(room: string): RoomKeys {
    const base = `${this.prefix}{${room}}:`;
    return {
      meta: `${base}meta`,
      log: `${base}log`,
      presence: `${base}presence`,
      channel: `${base}ch`,
      dedup: (id: string) => `${base}dedup:${id}`,
    };
  }

  nodeAlive(nodeId: string): string {
    return `${this.prefix}node:{${nodeId}}:alive`;
  }

  nodeChannel(nodeId: string): string {
    return `${this.prefix}node:{${nodeId}}:ch`;
  }

  busChannel(instanceId: string): string {
    return `${this.prefix}bus:{${instanceId}}:ch`;
  }

  /** The `n`-th candidate probe channel of a bus instance on a cluster (each hashes to its own slot). */
  shardProbeChannel(instanceId: string, n: number): string {
    return `${this.prefix}bus:{${instanceId}.${n}}:ch`;
  }

  kv(key: string): string {
    return `${this.prefix}kv:{${key}}`;
  }
}
