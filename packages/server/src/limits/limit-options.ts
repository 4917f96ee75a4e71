import type { Handshake } from '../handshake.js';

/** What identifies a connection's user or address before and after it opened. */
export interface ConnectionInfo<Data = unknown> {
  /** What `authenticate` returned. */
  readonly data: Data;
  readonly handshake: Handshake;
}

/** Names a connection's user for per-user limits; null/undefined: no per-user limit applies. */
export type UserKey<Data = unknown> = (conn: ConnectionInfo<Data>) => string | number | null | undefined;

/**
 * A shared rate limit per user across every node, counted in the bus (`bus.increment`, a fixed
 * window). Counting is batched: each node adds to the shared counter once per `batch` messages
 * of a user, so the bus sees at most about `limit / batch` calls per user and window.
 */
export interface PerUserRateLimit<Data = unknown> {
  /** The user of a connection. Default: the server's `userKey`. */
  key?: UserKey<Data>;
  /** Messages one user may send per window, over all connections and nodes. */
  limit: number;
  /** Window length in ms (fixed window, starting with the user's first counted message). */
  windowMs: number;
  /**
   * Messages a node counts locally before adding them to the shared counter in one step.
   * Default `max(1, floor(limit / 100))`. Larger: fewer bus calls, a looser limit (see docs/security.md).
   */
  batch?: number;
}

/**
 * Inbound rate limit of one connection: a token bucket (`burst` tokens, `perSecond` refill).
 * Over the limit, requests and joins get `RATE_LIMITED` error replies and events are dropped
 * (counted in `metrics().messages.rateLimited`); a client that stays over it is closed with 4029.
 */
export interface RateLimitOptions<Data = unknown> {
  /** Bucket size: messages a connection may send in one burst. Default 200. */
  burst?: number;
  /** Sustained rate: tokens added per second. Default 100. */
  perSecond?: number;
  /**
   * Tokens a new connection starts with (may exceed `burst`, once): room for a reconnecting
   * client's catch-up (offline buffer flush, rejoins, resent requests). Default 1 200.
   */
  initialTokens?: number;
  /**
   * A connection refused for this long without its bucket recovering to half, with at least
   * `burst` messages refused meanwhile, is closed with 4029 (RateLimited). 0: never close. Default 10 000.
   */
  closeAfterMs?: number;
  /** A limit per user over all connections and nodes. Default: none. */
  perUser?: PerUserRateLimit<Data>;
}

/** The limit options of `TetherServerOptions`, resolved with their defaults. */
export interface ResolvedLimits<Data = unknown> {
  maxRoomsPerConnection: number;
  maxConnectionsPerIp: number;
  maxConnectionsPerUser: number;
  userKey: UserKey<Data>;
  clientIp: (handshake: Handshake) => string | undefined;
  rateLimit: ResolvedRateLimit<Data> | false;
}

export interface ResolvedRateLimit<Data = unknown> {
  burst: number;
  perSecond: number;
  initialTokens: number;
  closeAfterMs: number;
  perUser: Required<PerUserRateLimit<Data>> | undefined;
}

/** The limit options as `TetherServerOptions` carries them. */
export interface LimitOptions<Data = unknown> {
  maxRoomsPerConnection?: number;
  maxConnectionsPerIp?: number;
  maxConnectionsPerUser?: number;
  userKey?: UserKey<Data>;
  clientIp?: (handshake: Handshake) => string | undefined;
  rateLimit?: RateLimitOptions<Data> | false;
}

export const LIMIT_DEFAULTS = {
  maxRoomsPerConnection: 100,
  burst: 200,
  perSecond: 100,
  initialTokens: 1_200,
  closeAfterMs: 10_000,
} as const;

/**
 * The default user key: `data.userId` when `authenticate` returned an object with a string or
 * number `userId` (the shape the docs use), else none.
 */
export function defaultUserKey(conn: ConnectionInfo): string | number | undefined {
  const data = conn.data as { userId?: unknown } | null | undefined;
  const id = typeof data === 'object' && data !== null ? data.userId : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${value})`);
  }
  return value;
}

function resolvePerUser<Data>(
  perUser: PerUserRateLimit<Data>,
  userKey: UserKey<Data>,
): Required<PerUserRateLimit<Data>> {
  // `?? NaN` makes a missing limit or window throw instead of quietly meaning "no limit".
  const limit = positive('rateLimit.perUser.limit', perUser.limit ?? Number.NaN, 0);
  const windowMs = positive('rateLimit.perUser.windowMs', perUser.windowMs ?? Number.NaN, 0);
  const batch = positive('rateLimit.perUser.batch', perUser.batch, Math.floor(limit / 100));
  return { key: perUser.key ?? userKey, limit, windowMs, batch: Math.max(1, Math.floor(batch)) };
}

/**
 * Applies the defaults and checks the values (a typo such as a negative limit throws at startup
 * rather than disabling protection silently).
 *
 * @example
 * const limits = resolveLimits({ rateLimit: { perSecond: 50 } });
 */
export function resolveLimits<Data>(options: LimitOptions<Data>): ResolvedLimits<Data> {
  const userKey = options.userKey ?? (defaultUserKey as UserKey<Data>);
  let rateLimit: ResolvedRateLimit<Data> | false = false;
  if (options.rateLimit !== false) {
    const r = options.rateLimit ?? {};
    const burst = positive('rateLimit.burst', r.burst, LIMIT_DEFAULTS.burst);
    const perUser = r.perUser;
    rateLimit = {
      burst,
      perSecond: positive('rateLimit.perSecond', r.perSecond, LIMIT_DEFAULTS.perSecond),
      initialTokens: Math.max(
        burst,
        positive('rateLimit.initialTokens', r.initialTokens, LIMIT_DEFAULTS.initialTokens, true),
      ),
      closeAfterMs: positive('rateLimit.closeAfterMs', r.closeAfterMs, LIMIT_DEFAULTS.closeAfterMs, true),
      perUser: perUser ? resolvePerUser(perUser, userKey) : undefined,
    };
  }
  return {
    maxRoomsPerConnection: positive(
      'maxRoomsPerConnection',
      options.maxRoomsPerConnection,
      LIMIT_DEFAULTS.maxRoomsPerConnection,
    ),
    maxConnectionsPerIp: positive(
      'maxConnectionsPerIp',
      options.maxConnectionsPerIp,
      Number.POSITIVE_INFINITY,
    ),
    maxConnectionsPerUser: positive(
      'maxConnectionsPerUser',
      options.maxConnectionsPerUser,
      Number.POSITIVE_INFINITY,
    ),
    userKey,
    clientIp: options.clientIp ?? ((handshake) => handshake.address),
    rateLimit,
  };
}
