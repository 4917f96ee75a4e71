import type { IncomingMessage } from 'node:http';
import { type AuthMessage, CloseCode, ErrorCode, type Logger } from '@tether/protocol';
import type { ConnectionEngine } from './connection-engine.js';
import { ExpirySchedule, type ExpiryTarget } from './expiry-schedule.js';
import { handshakeOf } from './http-endpoint.js';
import type { Rooms } from './rooms.js';
import { errorReply, reply } from './server-messages.js';
import { expiryOf } from './with-expiry.js';

/** Share of the credentials' life left when the server asks for a refresh (half: 1 s of a 2 s token). */
const ASK_AT_SHARE_LEFT = 0.5;

/** What the identity part needs from the server. */
export interface IdentityContext {
  readonly logger: Logger;
  readonly rooms: Pick<Rooms, 'authorize' | 'leave'>;
  /** The app's `authenticate`; undefined: nothing to refresh, nothing expires. */
  readonly authenticate: ((req: IncomingMessage, auth: unknown) => unknown) | undefined;
  /** The user key of a connection's data (the `userKey` option), as a string. */
  userKeyOf(data: unknown, req: IncomingMessage): string | undefined;
}

/** One connection's credentials: what a refresh needs, and when they are due. */
class Credentials implements ExpiryTarget {
  dueAt = 0;
  /** `ask`: the next due time sends `reauth`; `expire`: it closes the connection. */
  phase: 'ask' | 'expire' = 'ask';
  expiresAt: number | undefined;
  /** Rooms the client joined itself (not server-side joins): checked again after a refresh. */
  clientRooms: Set<string> | undefined;

  constructor(
    readonly engine: ConnectionEngine,
    /** The request that opened the connection: a refresh runs `authenticate` with its headers. */
    readonly req: IncomingMessage,
    readonly part: Identity,
  ) {}

  due(now: number): void {
    this.part.due(this, now);
  }
}

/**
 * Credentials of long-lived connections (docs/security.md, "Expiry and refresh"): when data
 * that `authenticate` marked with `withExpiry` runs out, the client is asked to refresh (`reauth`)
 * once half of its life is left, and closed with 4440 if it has not by then. A refresh (`auth`)
 * runs `authenticate` again with the opening request and the new credentials; on success
 * `conn.data` and the expiry are replaced and every room the client joined is put to
 * `authorizeJoin` again (refused ones are left, with `left {c: JOIN_REFUSED}`). A refusal closes
 * with 4401, another user key with 4411. One schedule (one timer) serves every connection.
 *
 * @example
 * identity.opened(engine, req);           // when a connection is welcomed
 * await identity.refresh(engine, message); // a client's `auth`
 */
export class Identity {
  readonly #context: IdentityContext;
  readonly #byEngine = new Map<ConnectionEngine, Credentials>();
  readonly #schedule: ExpirySchedule;

  constructor(context: IdentityContext, clock?: () => number) {
    this.#context = context;
    this.#schedule = new ExpirySchedule(clock);
  }

  /** Connections whose credentials are dated (for tests and metrics). */
  get scheduled(): number {
    return this.#schedule.size;
  }

  /** A connection was welcomed. Nothing is kept when there is no `authenticate` to run again. */
  opened(engine: ConnectionEngine, req: IncomingMessage): void {
    if (!this.#context.authenticate) return;
    const entry = new Credentials(engine, req, this);
    this.#byEngine.set(engine, entry);
    this.#date(entry, Date.now());
  }

  closed(engine: ConnectionEngine): void {
    const entry = this.#byEngine.get(engine);
    if (!entry) return;
    this.#byEngine.delete(engine);
    this.#schedule.delete(entry);
  }

  /** The client joined `room` itself: a refresh puts it to `authorizeJoin` again. */
  clientJoined(engine: ConnectionEngine, room: string): void {
    const entry = this.#byEngine.get(engine);
    if (!entry || !engine.isMember(room)) return;
    const rooms = (entry.clientRooms ??= new Set());
    rooms.add(room);
    // Rooms left since stay listed until here: forget them before the set outgrows the connection.
    if (rooms.size > engine.roomCount * 2 + 8)
      for (const name of rooms) if (!engine.isMember(name)) rooms.delete(name);
  }

  /** A client's `auth`: answered `res` once the new credentials are in place, or `err` and a close. */
  async refresh(engine: ConnectionEngine, message: AuthMessage): Promise<void> {
    const { authenticate, logger } = this.#context;
    const entry = this.#byEngine.get(engine);
    if (!authenticate || !entry) {
      engine.send(reply(message.id, {}), false);
      return;
    }
    let data: unknown;
    try {
      data = await authenticate(entry.req, message.a);
    } catch (err) {
      logger.debug({ err, connId: engine.id }, 'authenticate threw on refresh');
    }
    if (engine.closed) return;
    const now = Date.now();
    const expiresAt = expiryOf(data);
    if (data === null || data === undefined || (expiresAt !== undefined && expiresAt <= now)) {
      logger.info({ connId: engine.id }, 'credentials refresh refused');
      engine.send(errorReply(message.id, ErrorCode.Unauthorized, 'credentials refused'), false);
      engine.close(CloseCode.Unauthorized, 'credentials refused');
      return;
    }
    if (this.#context.userKeyOf(data, entry.req) !== this.#context.userKeyOf(engine.data, entry.req)) {
      logger.info({ connId: engine.id }, 'credentials refresh named another user');
      engine.send(errorReply(message.id, ErrorCode.Forbidden, 'the credentials name another user'), false);
      engine.close(CloseCode.UserChanged, 'the credentials name another user');
      return;
    }
    engine.data = data;
    this.#date(entry, now);
    await this.#recheckRooms(entry);
    if (!engine.closed) engine.send(reply(message.id, {}), false);
  }

  /** @internal the schedule's call: ask for a refresh, or end the connection. */
  due(entry: Credentials, now: number): void {
    const { engine } = entry;
    if (engine.closed || entry.expiresAt === undefined) return;
    if (entry.phase === 'ask') {
      engine.send({ t: 'reauth', x: Math.max(0, entry.expiresAt - now) }, false);
      entry.phase = 'expire';
      entry.dueAt = entry.expiresAt;
      this.#schedule.add(entry);
      return;
    }
    this.#context.logger.info({ connId: engine.id }, 'credentials expired without a refresh');
    engine.close(CloseCode.AuthExpired, 'credentials expired');
  }

  /** Stops the schedule (the connections have closed by then). */
  close(): void {
    this.#schedule.stop();
    this.#byEngine.clear();
  }

  /** Schedules the ask of the connection's current data, or nothing when it does not expire. */
  #date(entry: Credentials, now: number): void {
    const expiresAt = expiryOf(entry.engine.data);
    entry.expiresAt = expiresAt;
    if (expiresAt === undefined) {
      this.#schedule.delete(entry);
      return;
    }
    entry.phase = 'ask';
    entry.dueAt = expiresAt - (expiresAt - now) * ASK_AT_SHARE_LEFT;
    this.#schedule.add(entry);
  }

  /** `authorizeJoin` again for every room the client joined; refused rooms are left and said so. */
  async #recheckRooms(entry: Credentials): Promise<void> {
    const { engine } = entry;
    for (const room of [...(entry.clientRooms ?? [])]) {
      if (!engine.isMember(room)) {
        entry.clientRooms?.delete(room);
        continue;
      }
      const refused = await this.#context.rooms.authorize(engine, room);
      // Only the policy's no counts: a server shutting down refuses joins but keeps its members.
      if (refused?.code !== ErrorCode.JoinRefused || engine.closed) continue;
      entry.clientRooms?.delete(room);
      await this.#context.rooms.leave(engine, room);
      engine.send({ t: 'left', r: room, c: ErrorCode.JoinRefused }, false);
    }
  }
}

/** The user key of `data` for a connection opened by `req`, through the server's `userKey`. */
export function userKeyOfRequest(
  userKey: (conn: { data: unknown; handshake: ReturnType<typeof handshakeOf> }) => unknown,
): (data: unknown, req: IncomingMessage) => string | undefined {
  return (data, req) => {
    try {
      const key = userKey({ data, handshake: handshakeOf(req) });
      return typeof key === 'string' || typeof key === 'number' ? String(key) : undefined;
    } catch {
      return undefined;
    }
  };
}
