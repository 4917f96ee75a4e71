import { CloseCode, ErrorCode, type Logger, type Message, type ServerMessage } from '@tether/protocol';
import { logRateLimitEnded, logRateLimited } from '../lifecycle-log.js';
import type { ResolvedRateLimit } from './limit-options.js';
import { TokenBucket } from './token-bucket.js';
import type { UserQuota } from './user-rate-limit.js';

/** What the limiter needs of a connection: answer a refused request, or close it. */
export interface LimitedConnection {
  readonly id: string;
  send(message: ServerMessage, volatile: boolean): boolean;
  close(code: number, reason: string): void;
}

/** Inbound backpressure of a transport (WebSocket has it; SSE POSTs do not). */
export interface PausableReader {
  pauseReading?(): void;
  resumeReading?(): void;
}

/** True for messages that take a token: all but `pong` and `leave`, which only shrink server state. */
export function countsAgainstRateLimit(message: Message): boolean {
  return message.t !== 'pong' && message.t !== 'leave';
}

/** Longest pause of a connection's reading by default, in ms: far within the heartbeat deadline. */
export const MAX_PAUSE_MS = 5_000;

/** Where the limiter reports: a coarse clock, a counter of refused messages, the log. */
export interface RateLimitHost {
  readonly clock: { readonly now: number };
  readonly counters: { rateLimited: number };
  readonly logger: Logger;
}

/**
 * The event a client gets at the first refusal of an episode: `{ m, ms }`, the reason and how
 * long (ms) until the client may send again. The client reports it as an `error` (RATE_LIMITED)
 * and `emit` returns false meanwhile (docs/security.md).
 */
export const RATE_LIMITED_EVENT = 'tether:rate-limited';

/**
 * The inbound rate limit of one connection. Every message except `pong` and `leave` (which only
 * shrink server state) takes a token from a bucket (`burst` tokens, `perSecond` refill), then,
 * when a per-user limit applies, counts against the user's shared quota.
 *
 * Over the limit: `req` and `join` get a `RATE_LIMITED` error reply (the client's promise
 * rejects at once), `evt` and replies are dropped; all are counted. An *episode* starts at the
 * first refusal and ends once the bucket is back to half full; an episode that lasts
 * `closeAfterMs` with at least `burst` refusals closes the connection with 4029: the client
 * ignored the refusals. Per-user refusals never close (the connection itself may be polite).
 *
 * Backpressure: on a refusal, a transport that can (WebSocket) stops reading for as long as the
 * bucket needs to refill half its burst (1 s by default, at most `maxPauseMs`): the client's further
 * frames wait in TCP buffers instead of being parsed and dropped, so a flood costs the server
 * (and its other clients) almost nothing. The one timer this needs exists only while paused.
 *
 * Time: the hot path reads the server's coarse clock (`host.clock.now`, refreshed by the
 * heartbeat sweep every few seconds). Only when the bucket looks empty is the precise clock read,
 * so the refill is exact where it matters and a client within its limit costs no clock call.
 *
 * @example
 * const limiter = new InboundRateLimiter(tether, settings, quota, transport);
 * if (!limiter.admit(message, conn)) return; // refused, already answered or dropped
 */
export class InboundRateLimiter {
  readonly #host: RateLimitHost;
  readonly #bucket: TokenBucket;
  readonly #half: number;
  readonly #burst: number;
  readonly #closeAfterMs: number;
  readonly #user: UserQuota | undefined;
  readonly #reader: PausableReader | undefined;
  readonly #pauseMs: number;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;
  #episodeStart = -1;
  #episodeRefusals = 0;
  /** Refusals since the client was last told (undefined: nothing refused since the last episode ended). */
  #toldRefusals: number | undefined;
  #closed = false;

  constructor(
    host: RateLimitHost,
    settings: ResolvedRateLimit<unknown>,
    user?: UserQuota,
    reader?: PausableReader,
    maxPauseMs = MAX_PAUSE_MS,
  ) {
    this.#host = host;
    this.#bucket = new TokenBucket({
      capacity: settings.burst,
      perSecond: settings.perSecond,
      initial: settings.initialTokens,
      now: Date.now(),
    });
    this.#burst = settings.burst;
    this.#half = settings.burst / 2;
    this.#closeAfterMs = settings.closeAfterMs;
    this.#user = user;
    this.#reader = reader?.pauseReading && reader.resumeReading ? reader : undefined;
    this.#pauseMs = Math.min(maxPauseMs, Math.max(1, Math.ceil((this.#half / settings.perSecond) * 1_000)));
  }

  /** True while the connection's reading is paused. */
  get paused(): boolean {
    return this.#resumeTimer !== undefined;
  }

  /** The connection is gone: drop the pause timer, if any. */
  dispose(): void {
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
  }

  /** The user quota this connection counts against, if any. */
  get user(): UserQuota | undefined {
    return this.#user;
  }

  /** True when the message may be handled; otherwise it was answered or dropped here. */
  admit(message: Message, conn: LimitedConnection): boolean {
    if (!countsAgainstRateLimit(message)) return true;
    const bucket = this.#bucket;
    if (bucket.take(this.#host.clock.now)) {
      if (this.#episodeStart >= 0 && bucket.tokensAt(this.#host.clock.now) >= this.#half) {
        this.#episodeStart = -1;
      }
    } else {
      const now = Date.now();
      if (!bucket.take(now)) {
        this.#refuse(message, conn, 'connection rate limit exceeded');
        this.#strike(now, conn);
        this.#pause();
        return false;
      }
    }
    if (this.#user && !this.#user.take()) {
      this.#refuse(message, conn, 'user rate limit exceeded');
      return false;
    }
    if (this.#toldRefusals !== undefined && this.#episodeStart < 0) this.#endEpisode(conn);
    return true;
  }

  #refuse(message: Message, conn: LimitedConnection, why: string): void {
    this.#host.counters.rateLimited++;
    if (this.#closed) return;
    if (this.#toldRefusals === undefined) this.#tell(conn, why);
    else this.#toldRefusals++;
    // Messages with an id get an answer (a refresh too: its caller waits for one); the rest drop.
    if (message.t === 'req' || message.t === 'join' || message.t === 'auth') {
      conn.send({ t: 'err', id: message.id, c: ErrorCode.RateLimited, m: why }, false);
    }
  }

  /** First refusal of an episode: one log line, and the client is told (events are dropped silently otherwise). */
  #tell(conn: LimitedConnection, why: string): void {
    this.#toldRefusals = 1;
    const scope = why.startsWith('user') ? 'user' : 'connection';
    logRateLimited(this.#host.logger, conn.id, scope, why);
    conn.send({ t: 'evt', e: RATE_LIMITED_EVENT, d: { m: why, ms: this.#pauseMs } }, false);
  }

  #endEpisode(conn: LimitedConnection): void {
    logRateLimitEnded(this.#host.logger, conn.id, this.#toldRefusals ?? 0);
    this.#toldRefusals = undefined;
  }

  #strike(now: number, conn: LimitedConnection): void {
    if (this.#episodeStart < 0) {
      this.#episodeStart = now;
      this.#episodeRefusals = 0;
    }
    this.#episodeRefusals++;
    if (
      !this.#closed &&
      this.#closeAfterMs > 0 &&
      now - this.#episodeStart >= this.#closeAfterMs &&
      this.#episodeRefusals >= this.#burst
    ) {
      this.#closed = true;
      // Reading again lets the close handshake complete instead of waiting for ws's timeout.
      this.#resume();
      conn.close(CloseCode.RateLimited, 'rate limit exceeded for too long');
    }
  }

  #pause(): void {
    if (!this.#reader || this.#resumeTimer !== undefined || this.#closed) return;
    this.#reader.pauseReading?.();
    this.#resumeTimer = setTimeout(() => this.#resume(), this.#pauseMs);
    // A pause must not keep the process alive; the connection's close clears it anyway.
    this.#resumeTimer.unref?.();
  }

  #resume(): void {
    if (this.#resumeTimer === undefined) return;
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#reader?.resumeReading?.();
  }
}
