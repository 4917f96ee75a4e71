import type { Logger, PresenceChange } from '@tether/protocol';
import type { Bus, PresenceMember } from './bus.js';

/** What the tracker needs from its server. */
export interface PresenceHost {
  readonly bus: Bus;
  readonly logger: Logger;
  /** Publishes a `tether:presence` room message: volatile, not in history. */
  publishPresence(room: string, change: PresenceChange, except: readonly string[]): Promise<unknown>;
}

/** A leave that waits out the grace period before it is announced. */
interface PendingLeave {
  room: string;
  member: PresenceMember;
  deadline: number;
}

// Shared through the bus, so a session that drops on one node and comes back on another is
// recognized there. The claim key decides, once, whether the old connection "left" or "came back".
const graceKey = (sessionId: string, room: string) => `pres:grace:${sessionId}:${room}`;
const claimKey = (connId: string, room: string) => `pres:claim:${connId}:${room}`;

const noop = () => {};

/**
 * Announces room joins and leaves as volatile `tether:presence` room messages, and hides
 * flapping reconnects: when a connection drops, its leave waits `graceMs`; if the same session
 * rejoins the room meanwhile (on any node), neither the leave nor the join is announced, only a
 * `reconnect` that names the new and the previous connection id. One timer serves every pending
 * leave of the node (one grace period for all, so deadlines come in insertion order).
 *
 * @example
 * const presence = new PresenceTracker(host, 3_000);
 * presence.joined(conn.id, conn.sessionId, 'room', member, resumed);
 * presence.left(conn.id, conn.sessionId, 'room', member, true); // dropped: announced after 3 s unless back
 */
export class PresenceTracker {
  readonly #host: PresenceHost;
  readonly #graceMs: number;
  /** `connId\0room` → leave to announce at its deadline. */
  readonly #pending = new Map<string, PendingLeave>();
  readonly #inFlight = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(host: PresenceHost, graceMs: number) {
    this.#host = host;
    this.#graceMs = graceMs;
  }

  /** A member was added to the room's presence. `resumed`: its connection resumed a session. */
  joined(sessionId: string, room: string, member: PresenceMember, resumed: boolean): void {
    this.#track(this.#announceJoin(sessionId, room, member, resumed));
  }

  /**
   * A membership ended. `dropped`: the connection was lost (not a leave, not a deliberate close):
   * the member stays in presence and its leave waits for the grace period.
   */
  left(sessionId: string, room: string, member: PresenceMember, dropped: boolean): void {
    if (!dropped || this.#graceMs <= 0 || this.#closed) {
      this.#track(this.#announceLeave(room, member));
      return;
    }
    const ttl = this.#graceMs * 2;
    this.#track(this.#host.bus.set(graceKey(sessionId, room), member.connId, ttl).then(noop));
    this.#pending.set(`${member.connId}\0${room}`, { room, member, deadline: Date.now() + this.#graceMs });
    this.#arm();
  }

  /** Announces every pending leave now and waits for announcements in flight (server shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const leave of this.#pending.values()) this.#track(this.#leaveUnlessBack(leave));
    this.#pending.clear();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #announceJoin(
    sessionId: string,
    room: string,
    member: PresenceMember,
    resumed: boolean,
  ): Promise<void> {
    const { bus } = this.#host;
    // Only a resumed session can have a leave pending; a new one skips the lookup.
    if (resumed && this.#graceMs > 0) {
      const previous = await bus.get(graceKey(sessionId, room));
      if (
        previous !== undefined &&
        previous !== member.connId &&
        (await bus.set(claimKey(previous, room), 'back', this.#graceMs * 2, { ifAbsent: true }))
      ) {
        this.#pending.delete(`${previous}\0${room}`);
        await bus.removeMember(room, previous);
        await this.#host.publishPresence(room, { type: 'reconnect', member, previousConnId: previous }, [
          member.connId,
        ]);
        return;
      }
    }
    await this.#host.publishPresence(room, { type: 'join', member }, [member.connId]);
  }

  async #announceLeave(room: string, member: PresenceMember): Promise<void> {
    await this.#host.bus.removeMember(room, member.connId);
    await this.#host.publishPresence(room, { type: 'leave', member }, []);
  }

  async #leaveUnlessBack(leave: PendingLeave): Promise<void> {
    const { room, member } = leave;
    const claimed = await this.#host.bus.set(claimKey(member.connId, room), 'left', this.#graceMs * 2, {
      ifAbsent: true,
    });
    if (claimed) await this.#announceLeave(room, member);
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = Date.now();
    for (const [key, leave] of this.#pending) {
      if (leave.deadline > now) break;
      this.#pending.delete(key);
      this.#track(this.#leaveUnlessBack(leave));
    }
    this.#arm();
  };

  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const first = this.#pending.values().next().value as PendingLeave | undefined;
    if (!first) return;
    this.#timer = setTimeout(this.#expire, Math.max(0, first.deadline - Date.now()));
    this.#timer.unref();
  }

  #track(work: Promise<void>): void {
    const tracked = work
      .catch((err) => this.#host.logger.warn({ err }, 'presence update failed'))
      .finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}
