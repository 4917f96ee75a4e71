import type { Logger } from '@tether/protocol';
import type { Bus } from '../bus.js';

/** Key prefix of the shared per-user counters in the bus. */
const KEY_PREFIX = 'rate:user:';

interface Settings {
  limit: number;
  windowMs: number;
  batch: number;
  /** While refused, how often the shared counter is asked again whether the window ended, in ms. */
  recheckMs: number;
}

/**
 * One user's share of a cross-node rate limit, on this node. Messages are counted locally; every
 * `batch` of them adds one to the user's counter in the bus (a fixed window that starts with the
 * first increment, shared by every node), whose value times `batch` estimates the user's messages
 * in the window over all nodes. Once it reaches `limit`, this node refuses the user's messages
 * and, at most every `recheckMs`, increments again to learn whether a new window began.
 */
export class UserQuota {
  readonly key: string;
  /** Connections of this user on this node holding the quota. */
  holders = 0;
  readonly #bus: Bus;
  readonly #settings: Settings;
  readonly #logger: Logger;
  #uncounted = 0;
  #blocked = false;
  #recheckAt = 0;
  #checking = false;

  constructor(key: string, bus: Bus, settings: Settings, logger: Logger) {
    this.key = key;
    this.#bus = bus;
    this.#settings = settings;
    this.#logger = logger;
  }

  /** True while the user is over the limit (as last heard from the bus). */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Counts one message; false when the user is over the limit. Never waits for the bus. */
  take(): boolean {
    if (this.#blocked) {
      // Only refused messages read the precise clock, and at most one of them per recheck asks the bus.
      const now = Date.now();
      if (now >= this.#recheckAt && !this.#checking) this.#count(true);
      return false;
    }
    if (++this.#uncounted >= this.#settings.batch) {
      this.#uncounted = 0;
      this.#count(false);
    }
    return true;
  }

  #count(recheck: boolean): void {
    this.#checking = true;
    const { limit, windowMs, batch, recheckMs } = this.#settings;
    this.#bus.increment(KEY_PREFIX + this.key, windowMs).then(
      (chunks) => {
        this.#checking = false;
        const over = chunks * batch >= limit;
        if (over) this.#recheckAt = Date.now() + recheckMs;
        // A recheck that finds a fresh window lets the user through again.
        if (over || recheck) this.#blocked = over;
      },
      (err: unknown) => {
        this.#checking = false;
        // Fails open: without the bus a per-user limit cannot be known, and refusing every user
        // would turn a bus outage into a full outage. Per-connection limits still hold.
        this.#blocked = false;
        this.#logger.debug({ err, user: this.key }, 'per-user rate limit not counted');
      },
    );
  }
}

/**
 * The per-user quotas of this node's connections, shared by all connections of the same user
 * here (so one node makes one batch of bus calls per user, however many tabs the user has).
 * A quota lives while a connection holds it: the map is bounded by open connections.
 *
 * @example
 * const quotas = new UserRateLimits(bus, { limit: 600, windowMs: 60_000, batch: 6 }, logger);
 * const quota = quotas.acquire('user-42'); // ... quota.take() per message; quotas.release(quota) on close
 */
export class UserRateLimits {
  readonly #quotas = new Map<string, UserQuota>();
  readonly #bus: Bus;
  readonly #settings: Settings;
  readonly #logger: Logger;

  constructor(bus: Bus, options: { limit: number; windowMs: number; batch: number }, logger: Logger) {
    this.#bus = bus;
    this.#settings = {
      ...options,
      recheckMs: Math.min(1_000, Math.max(50, Math.floor(options.windowMs / 10))),
    };
    this.#logger = logger;
  }

  acquire(key: string): UserQuota {
    let quota = this.#quotas.get(key);
    if (!quota) this.#quotas.set(key, (quota = new UserQuota(key, this.#bus, this.#settings, this.#logger)));
    quota.holders++;
    return quota;
  }

  release(quota: UserQuota): void {
    if (--quota.holders > 0) return;
    if (this.#quotas.get(quota.key) === quota) this.#quotas.delete(quota.key);
  }

  get size(): number {
    return this.#quotas.size;
  }
}
