import type { IncomingMessage } from 'node:http';
import type { Logger } from '@tether/protocol';
import { ErrorCode } from '@tether/protocol';
import type { Bus } from '../bus.js';
import type { Handshake } from '../handshake.js';
import { type AllowedOrigins, type OriginCheck, originCheck } from '../origin.js';
import { type CapLease, ConnectionCaps, UNCOUNTED_LEASE } from './connection-caps.js';
import type { ConnectionInfo, ResolvedLimits } from './limit-options.js';
import { InboundRateLimiter, type PausableReader, type RateLimitHost } from './rate-limiter.js';
import { type UserQuota, UserRateLimits } from './user-rate-limit.js';

/** Why a request may not open a connection: the HTTP status and error body to answer with. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** What an admitted connection holds until it closes. */
export interface Admitted {
  /**
   * A new inbound rate limiter for it (undefined with `rateLimit: false`); `reader` is its
   * transport, paused while the client is over its limit when it can be. The connection asks
   * once, at its first message that counts against the limit: an idle connection holds none.
   * Made then, it is the limiter it would have been at the open: its bucket starts with
   * `initialTokens`, at least `burst` (see `resolveLimits`), so it had nothing to refill meanwhile.
   */
  limiter(reader?: PausableReader): InboundRateLimiter | undefined;
  /** Gives back its connection-cap place and its share of the user's quota. Idempotent. */
  release(): void;
}

/**
 * Every check between a request and an open connection, in the order they run:
 *
 * 1. `refuseRequest` (before `authenticate`, so hostile requests cost no app code): the
 *    `allowedOrigins` check (403 FORBIDDEN) and the per-address cap (429 TOO_MANY_CONNECTIONS);
 * 2. `refuseUser` (after `authenticate`): the per-user cap, as a pre-check (429);
 * 3. `admit` (when the transport opened): reserves the places for real (a race lost between 2 and
 *    3 closes the connection with 4029); the connection makes its rate limiter from what `admit`
 *    returns, at its first message that counts (`Admitted.limiter`).
 *
 * Used by the WebSocket upgrade and, through `authenticateRequest` and `acceptTransport`, by
 * the SSE endpoints alike.
 *
 * @example
 * const refusal = admission.refuseRequest(req); if (refusal) return refuse(refusal);
 */
export class Admission {
  readonly #limits: ResolvedLimits<unknown>;
  readonly #origin: OriginCheck;
  readonly #caps: ConnectionCaps;
  readonly #users: UserRateLimits | undefined;
  readonly #host: RateLimitHost;
  readonly #maxPauseMs: number | undefined;
  /** What every connection holds when nothing is counted for it (caps off, no per-user limit). */
  readonly #uncounted: Admitted = {
    limiter: (reader) => this.newLimiter(undefined, reader),
    release() {},
  };

  constructor(init: {
    limits: ResolvedLimits<unknown>;
    allowedOrigins: AllowedOrigins | undefined;
    bus: Bus;
    host: RateLimitHost;
    logger: Logger;
    /** Longest read pause of a client over its rate limit (keep it well within the heartbeat deadline). */
    maxPauseMs?: number;
  }) {
    this.#limits = init.limits;
    this.#origin = originCheck(init.allowedOrigins);
    this.#caps = new ConnectionCaps({
      perIp: init.limits.maxConnectionsPerIp,
      perUser: init.limits.maxConnectionsPerUser,
    });
    const perUser = init.limits.rateLimit ? init.limits.rateLimit.perUser : undefined;
    this.#users = perUser && new UserRateLimits(init.bus, perUser, init.logger);
    this.#host = init.host;
    this.#maxPauseMs = init.maxPauseMs;
  }

  /** True when the request's `Origin` passes `allowedOrigins`. */
  originAllowed(req: IncomingMessage): boolean {
    return this.#origin(req);
  }

  /** Checks that need no authentication: origin, then the address cap. */
  refuseRequest(req: IncomingMessage, handshake: Handshake): Refusal | undefined {
    if (!this.#origin(req)) {
      return { status: 403, code: ErrorCode.Forbidden, message: 'this origin may not connect' };
    }
    if (this.#caps.check(this.#ipOf(handshake), undefined) === 'ip') return tooMany('address');
    return undefined;
  }

  /** The per-user cap, once `authenticate` named the user. */
  refuseUser(conn: ConnectionInfo): Refusal | undefined {
    if (!Number.isFinite(this.#limits.maxConnectionsPerUser)) return undefined;
    return this.#caps.check(undefined, this.userOf(conn)) === 'user' ? tooMany('user') : undefined;
  }

  /**
   * Reserves the caps of a connection about to open. Nothing is kept per connection unless a cap
   * counts it or a per-user limit applies.
   */
  admit(conn: ConnectionInfo): Admitted | Refusal {
    const lease: CapLease | 'ip' | 'user' = this.#caps.acquire(
      this.#ipOf(conn.handshake),
      Number.isFinite(this.#limits.maxConnectionsPerUser) ? this.userOf(conn) : undefined,
    );
    if (typeof lease === 'string') return tooMany(lease === 'ip' ? 'address' : 'user');
    const rateLimit = this.#limits.rateLimit;
    let quota: UserQuota | undefined;
    const perUser = rateLimit ? rateLimit.perUser : undefined;
    if (perUser && this.#users) {
      const key = keyString(safely(() => perUser.key(conn)));
      if (key !== undefined) quota = this.#users.acquire(key);
    }
    if (lease === UNCOUNTED_LEASE && quota === undefined) return this.#uncounted;
    return new AdmittedConnection(this, lease, quota);
  }

  /** @internal a connection's rate limiter; undefined with `rateLimit: false`. */
  newLimiter(
    quota: UserQuota | undefined,
    reader: PausableReader | undefined,
  ): InboundRateLimiter | undefined {
    const rateLimit = this.#limits.rateLimit;
    if (!rateLimit) return undefined;
    return new InboundRateLimiter(this.#host, rateLimit, quota, reader, this.#maxPauseMs);
  }

  /** @internal gives back a per-user quota share. */
  releaseQuota(quota: UserQuota): void {
    this.#users?.release(quota);
  }

  /** Sizes of the internal maps (for leak tests: all zero once every connection closed). */
  get tracked(): { ips: number; users: number; quotas: number } {
    return { ...this.#caps.tracked, quotas: this.#users?.size ?? 0 };
  }

  #ipOf(handshake: Handshake): string | undefined {
    return keyString(safely(() => this.#limits.clientIp(handshake)));
  }

  /** The connection's user key (the `userKey` option) as a string; undefined when it has none. */
  userOf(conn: ConnectionInfo): string | undefined {
    return keyString(safely(() => this.#limits.userKey(conn)));
  }
}

function tooMany(what: 'address' | 'user'): Refusal {
  return {
    status: 429,
    code: ErrorCode.TooManyConnections,
    message: `too many connections from this ${what}`,
  };
}

/** A key function that throws counts as "no key": the connection is not refused for an app bug. */
function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function keyString(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * What an open connection holds from admission when something is counted for it: an object with
 * methods, not closures per connection.
 */
class AdmittedConnection implements Admitted {
  #released = false;
  constructor(
    readonly admission: Admission,
    readonly lease: CapLease,
    readonly quota: UserQuota | undefined,
  ) {}

  limiter(reader?: PausableReader): InboundRateLimiter | undefined {
    return this.admission.newLimiter(this.quota, reader);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.lease.release();
    if (this.quota) this.admission.releaseQuota(this.quota);
  }
}
