/** Which cap refused a connection. */
export type CapRefusal = 'ip' | 'user';

/** A counted connection; `release()` gives its place back (once, however often it is called). */
export interface CapLease {
  release(): void;
}

/**
 * Concurrent connections per client address and per user key, on this node. A connection
 * holds a lease from before its handshake ends until it closes. With both caps off (the
 * default), nothing is tracked at all.
 *
 * @example
 * const caps = new ConnectionCaps({ perIp: 50, perUser: 20 });
 * const lease = caps.acquire('203.0.113.7', 'user-42');
 * if (typeof lease === 'string') refuse(lease); else conn.on('close', () => lease.release());
 */
export class ConnectionCaps {
  readonly #perIp: number;
  readonly #perUser: number;
  readonly #ips = new Map<string, number>();
  readonly #users = new Map<string, number>();

  constructor(limits: { perIp: number; perUser: number }) {
    this.#perIp = limits.perIp;
    this.#perUser = limits.perUser;
  }

  /** Which cap a new connection would exceed now, if any (a cheap pre-check, nothing reserved). */
  check(ip: string | undefined, user: string | undefined): CapRefusal | undefined {
    if (ip !== undefined && (this.#ips.get(ip) ?? 0) >= this.#perIp) return 'ip';
    if (user !== undefined && (this.#users.get(user) ?? 0) >= this.#perUser) return 'user';
    return undefined;
  }

  /** Reserves a place for a connection, or names the cap it would exceed. */
  acquire(ip: string | undefined, user: string | undefined): CapLease | CapRefusal {
    const refusal = this.check(ip, user);
    if (refusal) return refusal;
    const ipKey = Number.isFinite(this.#perIp) ? ip : undefined;
    const userKey = Number.isFinite(this.#perUser) ? user : undefined;
    // Caps off (the default): one shared lease, nothing kept per connection.
    if (ipKey === undefined && userKey === undefined) return UNCOUNTED_LEASE;
    if (ipKey !== undefined) this.#ips.set(ipKey, (this.#ips.get(ipKey) ?? 0) + 1);
    if (userKey !== undefined) this.#users.set(userKey, (this.#users.get(userKey) ?? 0) + 1);
    return new CountedLease(this.#ips, this.#users, ipKey, userKey);
  }

  /** Addresses and users currently counted (for tests: both drop to 0 when every connection closed). */
  get tracked(): { ips: number; users: number } {
    return { ips: this.#ips.size, users: this.#users.size };
  }
}

/** The lease of a connection no cap counts (shared: nothing to give back). */
export const UNCOUNTED_LEASE: CapLease = { release() {} };

/** A lease as an object with a method, not a closure: an idle connection keeps one small object. */
class CountedLease implements CapLease {
  #released = false;
  constructor(
    readonly ips: Map<string, number>,
    readonly users: Map<string, number>,
    readonly ipKey: string | undefined,
    readonly userKey: string | undefined,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.ipKey !== undefined) decrement(this.ips, this.ipKey);
    if (this.userKey !== undefined) decrement(this.users, this.userKey);
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 1) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
