import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { toBusError, unavailable } from './errors.js';

/** Where a Redis Cluster is: a few of its nodes (the rest are discovered) and ioredis Cluster options. */
export interface ClusterSource {
  /** Startup nodes, e.g. `[{ host: '10.0.0.5', port: 7000 }]`; one reachable node is enough. */
  nodes: ClusterNode[];
  /** ioredis Cluster options (`redisOptions` for every node connection, `natMap`, ...). */
  options?: ClusterOptions;
}

/**
 * Where RedisBus gets its Redis from: a URL, ioredis options, a Redis Cluster, or a client the
 * caller owns (a `Redis` or a `Cluster`).
 */
export type RedisSource =
  | { url: string }
  | { redis: RedisOptions }
  | { cluster: ClusterSource }
  | { client: Redis | Cluster };

/** A command client: one Redis, or a Redis Cluster (same command API, routed by key slot). */
export type Client = Redis | Cluster;

/**
 * True when `source` is a Redis Cluster (given as `cluster`, or as a `Cluster` client).
 *
 * @example
 * isClusterSource({ cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] } }); // true
 */
export function isClusterSource(source: RedisSource): boolean {
  return 'cluster' in source || ('client' in source && source.client instanceof Cluster);
}

/** Timing of a {@link CommandConnection}. */
export interface ConnectionTiming {
  /** Longest wait for the first connection before a call fails with BUS_UNAVAILABLE. */
  connectTimeoutMs: number;
  /** Longest wait for one command's reply before it fails with BUS_UNAVAILABLE. */
  commandTimeoutMs: number;
}

// Reconnect quickly: the bus is useless while Redis is away, and a restart on loopback takes
// well under a second. 50, 100, 200, ... capped at 1 s, plus jitter so nodes do not stampede.
const retryStrategy = (times: number): number =>
  Math.min(50 * 2 ** (times - 1), 1000) + Math.floor(Math.random() * 100);

/**
 * How long ioredis waits for a socket to close after ending it before destroying it (its default
 * is 2 s). RedisBus ends a socket only once nothing is in flight on it (after QUIT, or a broken
 * connection), so waiting long buys nothing.
 */
const DISCONNECT_TIMEOUT_MS = 100;

/**
 * Options forced on every connection RedisBus opens itself: fail fast instead of queueing
 * while Redis is away (a publish must reject with BUS_UNAVAILABLE, not wait forever), never
 * replay a command after a reconnect (a replayed publish would take a second offset), and
 * connect only when first used.
 */
const FAIL_FAST: RedisOptions = {
  lazyConnect: true,
  disconnectTimeout: DISCONNECT_TIMEOUT_MS,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false,
};

/**
 * Creates a new, not yet connected ioredis client for `source` with RedisBus's fail-fast
 * settings. For a caller-owned client this is a `duplicate()`, so the caller's client is not
 * touched.
 *
 * @example
 * const sub = createRedis({ url: 'redis://127.0.0.1:6379' }, timing);
 */
export function createRedis(source: RedisSource, timing: ConnectionTiming, pipelined = false): Client {
  const defaults: RedisOptions = { retryStrategy, connectTimeout: timing.connectTimeoutMs };
  // Commands issued in one tick leave in one write (a batch of publishes: one syscall, not ten).
  const forced: RedisOptions = pipelined ? { ...FAIL_FAST, enableAutoPipelining: true } : FAIL_FAST;
  if ('cluster' in source) return createCluster(source, timing, false, pipelined);
  if ('client' in source) {
    const { client } = source;
    if (client instanceof Cluster) return createCluster(source, timing, false, pipelined);
    return client.duplicate({ ...forced });
  }
  if ('url' in source) return new Redis(source.url, { ...defaults, ...forced });
  return new Redis({ ...defaults, ...source.redis, ...forced });
}

/**
 * Creates a new, not yet connected ioredis `Cluster` for a cluster source, with the same
 * no-replay rules as {@link createRedis}, plus: no resend of a command whose connection closed
 * (`retryDelayOnFailover: 0`; ioredis would otherwise replay an in-flight publish on the new
 * master and give it a second offset). Redirections (MOVED, ASK) and CLUSTERDOWN/TRYAGAIN replies
 * are still retried by ioredis: Redis did not run those commands. With `sharded`, the client also
 * keeps one subscriber connection per master for SSUBSCRIBE (ioredis's `shardedSubscribers`).
 *
 * @example
 * const sub = createCluster({ cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] } }, timing, true);
 */
export function createCluster(
  source: RedisSource,
  timing: ConnectionTiming,
  sharded: boolean,
  pipelined = false,
): Cluster {
  // ioredis opens each node's connection on first use: a command for a node whose connection is
  // still being made must wait for it (the offline queues), not fail. What was never sent is
  // never replayed; the bus refuses calls itself while the cluster is not ready, and bounds every
  // call by `commandTimeoutMs`.
  const forced: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: true,
    retryDelayOnFailover: 0,
    shardedSubscribers: sharded,
    enableAutoPipelining: pipelined,
  };
  const nodeOptions: RedisOptions = { ...FAIL_FAST, enableOfflineQueue: true };
  if ('client' in source && source.client instanceof Cluster) {
    const own = source.client.options;
    return source.client.duplicate(undefined, {
      ...forced,
      redisOptions: { ...own.redisOptions, ...nodeOptions },
    });
  }
  if (!('cluster' in source)) throw new TypeError('RedisBus: not a cluster source');
  const { nodes, options = {} } = source.cluster;
  return new Cluster(nodes, {
    clusterRetryStrategy: retryStrategy,
    ...options,
    ...forced,
    redisOptions: { connectTimeout: timing.connectTimeoutMs, ...options.redisOptions, ...nodeOptions },
  });
}

/**
 * The command connection of a RedisBus: created on first use, shared by every call, and
 * released when the bus has no more use for it. A caller-owned client is used as it is and
 * never closed here; only the listeners added to it are removed.
 *
 * @example
 * const conn = new CommandConnection({ url }, timing, () => bus.recheck());
 * const redis = await conn.ready(); // rejects with BUS_UNAVAILABLE while Redis is away
 */
export class CommandConnection {
  readonly #source: RedisSource;
  readonly #timing: ConnectionTiming;
  readonly #onChange: () => void;
  #redis: Client | undefined;
  #connectedOnce = false;
  #settling: { redis: Client; wait: Promise<void> } | undefined;
  #lastError = '';
  readonly #listeners = {
    ready: () => {
      this.#connectedOnce = true;
      this.#onChange();
    },
    close: () => this.#onChange(),
    end: () => this.#onChange(),
    error: (error: Error) => {
      // Kept for the BUS_UNAVAILABLE message; connection errors are reported through status.
      this.#lastError = error.message;
    },
  };

  constructor(source: RedisSource, timing: ConnectionTiming, onChange: () => void) {
    this.#source = source;
    this.#timing = timing;
    this.#onChange = onChange;
  }

  /** True when a command sent now would be written to a connected Redis. */
  get isReady(): boolean {
    return this.#redis?.status === 'ready';
  }

  /** The client when it exists, ready or not (for best-effort work). */
  get current(): Client | undefined {
    return this.#redis;
  }

  /**
   * The connected client. Waits for the first connection (at most `connectTimeoutMs`);
   * after that, rejects at once with BUS_UNAVAILABLE while Redis is away.
   */
  async ready(): Promise<Client> {
    const redis = this.#open();
    if (redis.status === 'ready') return redis;
    if (redis.status === 'wait') redis.connect().catch(() => {});
    const connecting = redis.status === 'connecting' || redis.status === 'connect';
    if (!connecting || this.#connectedOnce) {
      throw unavailable(`connection is ${redis.status}${this.#lastError ? ` (${this.#lastError})` : ''}`);
    }
    // Every caller waiting for the first connection shares one wait (and one set of listeners).
    if (this.#settling?.redis !== redis) {
      const wait = settle(redis, this.#timing.connectTimeoutMs).finally(() => {
        if (this.#settling?.wait === wait) this.#settling = undefined;
      });
      this.#settling = { redis, wait };
    }
    await this.#settling.wait;
    // Read again: the status changed while waiting (TypeScript narrowed it above).
    if ((redis.status as Client['status']) !== 'ready') {
      throw unavailable(`could not connect${this.#lastError ? ` (${this.#lastError})` : ''}`);
    }
    return redis;
  }

  /**
   * Runs `fn` on the ready client, bounded by `commandTimeoutMs`, mapping failures to
   * TetherErrors (BUS_UNAVAILABLE for anything that means "Redis is not reachable").
   */
  async run<T>(fn: (redis: Client) => Promise<T>): Promise<T> {
    const redis = await this.ready();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(`no reply within ${this.#timing.commandTimeoutMs} ms`)),
        this.#timing.commandTimeoutMs,
      );
      timer.unref();
    });
    try {
      return await Promise.race([fn(redis), timeout]);
    } catch (error) {
      throw toBusError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection if RedisBus opened it; a caller-owned client is left open. */
  async release(): Promise<void> {
    const redis = this.#redis;
    if (!redis) return;
    this.#redis = undefined;
    this.#connectedOnce = false;
    for (const [event, listener] of Object.entries(this.#listeners)) redis.off(event, listener);
    if ('client' in this.#source) return;
    // A late 'error' from the socket being torn down must still find a listener.
    redis.on('error', () => {});
    await closeRedis(redis);
  }

  #open(): Client {
    const existing = this.#redis;
    // An own client that ended (its retry strategy gave up) is replaced on the next use.
    if (existing && !(existing.status === 'end' && !('client' in this.#source))) return existing;
    if (existing) {
      for (const [event, listener] of Object.entries(this.#listeners)) existing.off(event, listener);
    }
    const redis =
      'client' in this.#source ? this.#source.client : createRedis(this.#source, this.#timing, true);
    for (const [event, listener] of Object.entries(this.#listeners)) redis.on(event, listener);
    this.#redis = redis;
    this.#connectedOnce = redis.status === 'ready';
    // A caller's client may be connected already: no 'ready' will come, so report it now.
    if (this.#connectedOnce) queueMicrotask(() => this.#redis === redis && this.#onChange());
    return redis;
  }
}

/** Resolves when `redis` is ready, or its connection attempt failed, or after `ms`. */
export function settle(redis: Client, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('close', done);
      redis.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    redis.once('ready', done);
    redis.once('close', done);
    redis.once('end', done);
  });
}

/**
 * Closes a client RedisBus owns: QUIT when connected (replies still in flight arrive first),
 * otherwise a plain disconnect, which also cancels a pending reconnect timer.
 */
export async function closeRedis(redis: Client): Promise<void> {
  if (redis.status === 'ready') {
    try {
      const ended = waitForEnd(redis, 1000);
      await redis.quit();
      // QUIT's reply comes before the socket is gone: wait for it, so no handle outlives close().
      await ended;
    } catch {
      // the connection broke while quitting: the disconnect below finishes the job
    }
  }
  if (redis.status === 'end') return;
  // While a reconnect is pending the old socket has closed already, yet ioredis's disconnect
  // still arms its timer for that socket's close, which never comes: the timer runs out by
  // itself. Waiting it out keeps close() from leaving a timer behind.
  const socketGone = redis.status === 'reconnecting';
  redis.disconnect(false);
  if (socketGone) await new Promise((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT_MS + 20));
}

function waitForEnd(redis: Client, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    redis.once('end', done);
  });
}
