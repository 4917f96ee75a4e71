import type { RedisSource } from './connection.js';

/** Tuning of a RedisBus; every field has a default. */
export interface RedisBusSettings {
  /** Prefix of every key and channel (no `{` or `}`). Default `'tether:'`. */
  keyPrefix?: string;
  /** Default window of idempotent publish ids, in ms. Default 5 minutes. */
  dedupTtlMs?: number;
  /** A node counts as gone (its presence entries hidden) this long after its last heartbeat. Default 15 s. */
  nodeTtlMs?: number;
  /** How long a room's epoch and offset outlive its last publish (at least its history TTL). Default 24 h. */
  roomTtlMs?: number;
  /** Upper bound on messages kept per room, whatever a publication asks for. Default 10 000. */
  historyLimit?: number;
  /** Longest wait for the first connection before calls fail with BUS_UNAVAILABLE. Default 5 s. */
  connectTimeoutMs?: number;
  /** Longest wait for one reply before the call fails with BUS_UNAVAILABLE. Default 5 s. */
  commandTimeoutMs?: number;
  /** Longest wait for a delivery probe to come back through pub/sub. Default 2 s. */
  probeTimeoutMs?: number;
  /**
   * Replicas that must confirm each room publish (Redis `WAIT`, sent to the master that took the
   * write) before `publish` resolves. If fewer confirm within `replicaAckTimeoutMs`, `publish`
   * rejects with `BUS_UNAVAILABLE` (details `{ reason: 'replica-acks', acked, wanted }`); the
   * message is stored and delivered all the same, but may be lost if that master dies before it
   * replicates. Default 0: no wait, Redis replicates asynchronously.
   */
  replicaAcks?: number;
  /** Longest `WAIT` for `replicaAcks`, in ms. Default 1 s. */
  replicaAckTimeoutMs?: number;
  /**
   * Called with what a node callback (`onRoomMessage`, `onNodeMessage`, `onStatus`) threw; delivery
   * to the other nodes goes on. Default: rethrown asynchronously, like a throwing event listener.
   */
  onError?: (error: unknown) => void;
}

/**
 * Options of `new RedisBus(...)`: where Redis is (`url`, ioredis options as `redis`, a Redis
 * Cluster as `cluster: { nodes, options? }`, or a `client` you own and close yourself: a `Redis`
 * or a `Cluster`), plus {@link RedisBusSettings}.
 */
export type RedisBusOptions = RedisSource & RedisBusSettings;

/** Settings with every default filled in, and the Redis source on its own. */
export interface ResolvedSettings extends Required<Omit<RedisBusSettings, 'keyPrefix'>> {
  source: RedisSource;
}

/** Longest expiry the bus writes: ten years, so `Infinity` stays a valid Redis argument and timestamps stay exact. */
export const MAX_TTL_MS = 10 * 365 * 24 * 60 * 60_000;

/**
 * A TTL Redis accepts: a whole number of ms from 1 to {@link MAX_TTL_MS} (NaN counts as 1).
 *
 * @example
 * positive(0.4); // 1
 * positive(Infinity); // MAX_TTL_MS
 */
export const positive = (value: number): number =>
  value >= MAX_TTL_MS ? MAX_TTL_MS : value > 1 ? Math.ceil(value) : 1;

const rethrowLater = (error: unknown) =>
  queueMicrotask(() => {
    throw error;
  });

/**
 * Fills in the defaults documented on {@link RedisBusSettings}.
 *
 * @example
 * resolveSettings({ url: 'redis://127.0.0.1:6379' }).nodeTtlMs; // 15000
 */
export function resolveSettings(options: RedisBusOptions): ResolvedSettings {
  const source: RedisSource =
    'client' in options
      ? { client: options.client }
      : 'cluster' in options
        ? { cluster: options.cluster }
        : 'url' in options
          ? { url: options.url }
          : { redis: options.redis };
  return {
    source,
    dedupTtlMs: positive(options.dedupTtlMs ?? 5 * 60_000),
    nodeTtlMs: positive(options.nodeTtlMs ?? 15_000),
    roomTtlMs: positive(options.roomTtlMs ?? 24 * 60 * 60_000),
    historyLimit: Math.max(1, Math.floor(options.historyLimit ?? 10_000)),
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    commandTimeoutMs: options.commandTimeoutMs ?? 5_000,
    probeTimeoutMs: options.probeTimeoutMs ?? 2_000,
    replicaAcks: Math.max(0, Math.floor(options.replicaAcks ?? 0)),
    replicaAckTimeoutMs: positive(options.replicaAckTimeoutMs ?? 1_000),
    onError: options.onError ?? rethrowLater,
  };
}
