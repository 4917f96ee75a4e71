import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@tether/protocol';
import type { Bus } from './bus.js';

export interface Session {
  sessionId: string;
  secret: string;
  resumed: boolean;
}

const KEY_NAME = 'session-signing-key';
/** How long a node trusts its copy of the signing key before checking the bus again. */
const KEY_REFRESH_MS = 60_000;
const KEY_TTL_MS = 30 * 24 * 3_600_000;

/**
 * Session ids with a secret: a client resumes its session (same `conn.sessionId`, same request
 * dedup keys, its pending server requests) only by presenting the secret the server gave it,
 * never by id alone, and only as the user it was issued to.
 *
 * The secret is an HMAC of the session id and the user key under a signing key that all nodes
 * share through the bus, so checking it needs no per-session storage and no bus round trip per
 * connection. A pair presented by another user (a stolen or shared `localStorage`) does not
 * verify: that client starts a new session and learns nothing of the other one. The id carries
 * its issue time, which bounds a session's life to `ttlMs`.
 *
 * @example
 * const session = await sessions.resolve(hello.sid, hello.sk, '42');
 */
export class SessionStore {
  readonly #bus: Bus;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  #key: Buffer | undefined;
  #keyCheckedAt = 0;
  #loading: Promise<Buffer> | undefined;

  constructor(bus: Bus, ttlMs: number, logger: Logger) {
    this.#bus = bus;
    this.#ttlMs = ttlMs;
    this.#logger = logger;
  }

  /** `userKey`: the connection's user (`userKey` option), undefined for an anonymous one. */
  async resolve(
    sessionId: string | undefined,
    secret: string | undefined,
    userKey: string | undefined,
  ): Promise<Session> {
    const key = await this.#signingKey();
    if (sessionId && secret && this.#valid(key, sessionId, secret, userKey))
      return { sessionId, secret, resumed: true };
    const fresh = `${randomBytes(12).toString('base64url')}.${Date.now().toString(36)}`;
    return { sessionId: fresh, secret: sign(key, fresh, userKey), resumed: false };
  }

  #valid(key: Buffer, sessionId: string, secret: string, userKey: string | undefined): boolean {
    const issuedAt = Number.parseInt(sessionId.slice(sessionId.lastIndexOf('.') + 1), 36);
    if (!Number.isFinite(issuedAt) || Date.now() - issuedAt > this.#ttlMs) return false;
    const expected = Buffer.from(sign(key, sessionId, userKey));
    const actual = Buffer.from(secret);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /**
   * The shared key: taken from the bus, or put there by the first node that needs one. Checked
   * again every minute, so that after the bus lost its data all nodes converge on one key.
   */
  #signingKey(): Promise<Buffer> {
    if (this.#key && Date.now() - this.#keyCheckedAt < KEY_REFRESH_MS) return Promise.resolve(this.#key);
    this.#loading ??= this.#loadKey().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #loadKey(): Promise<Buffer> {
    const candidate = this.#key ?? randomBytes(32);
    try {
      let stored = await this.#bus.get(KEY_NAME);
      if (stored === undefined) {
        await this.#bus.set(KEY_NAME, candidate.toString('base64url'), KEY_TTL_MS, { ifAbsent: true });
        stored = await this.#bus.get(KEY_NAME);
      }
      if (stored !== undefined) this.#key = Buffer.from(stored, 'base64url');
    } catch (err) {
      // Without the bus, sessions still work on this node; other nodes cannot resume them.
      this.#logger.warn({ err }, 'session signing key not shared: the bus is unavailable');
    }
    this.#key ??= candidate;
    this.#keyCheckedAt = Date.now();
    return this.#key;
  }
}

/**
 * The secret of a session for one user. The user part is tagged (`u:` or `-`) so an anonymous
 * session and a user's can never share a secret, and separated by a NUL, which neither a session
 * id nor the tag holds.
 */
function sign(key: Buffer, sessionId: string, userKey: string | undefined): string {
  const user = userKey === undefined ? '-' : `u:${userKey}`;
  return createHmac('sha256', key).update(`${sessionId}\0${user}`).digest('base64url');
}
