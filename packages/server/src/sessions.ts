import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Bus } from './bus.js';
import type { Logger } from './options.js';

export interface Session {
  sessionId: string;
  secret: string;
  resumed: boolean;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/**
 * Session ids with a secret: a client resumes its session (same `conn.sessionId`, same request
 * dedup keys) only by presenting the secret the server gave it, never by id alone. The bus
 * stores a hash of the secret, so any node can check it.
 *
 * @example
 * const session = await sessions.resolve(hello.sid, hello.sk);
 */
export class SessionStore {
  readonly #bus: Bus;
  readonly #ttlMs: number;
  readonly #logger: Logger;

  constructor(bus: Bus, ttlMs: number, logger: Logger) {
    this.#bus = bus;
    this.#ttlMs = ttlMs;
    this.#logger = logger;
  }

  async resolve(sessionId: string | undefined, secret: string | undefined): Promise<Session> {
    if (sessionId && secret && (await this.#matches(sessionId, secret))) {
      return { sessionId, secret, resumed: true };
    }
    const fresh = {
      sessionId: randomBytes(12).toString('base64url'),
      secret: randomBytes(18).toString('base64url'),
    };
    await this.#bus
      .set(`sess:${fresh.sessionId}`, digest(fresh.secret).toString('base64url'), this.#ttlMs)
      .catch((err) =>
        this.#logger.warn(
          { err },
          'session not stored: it can resume on this node only while the bus is down',
        ),
      );
    return { ...fresh, resumed: false };
  }

  async #matches(sessionId: string, secret: string): Promise<boolean> {
    const stored = await this.#bus.get(`sess:${sessionId}`).catch(() => undefined);
    if (!stored) return false;
    const expected = Buffer.from(stored, 'base64url');
    const actual = digest(secret);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}
