import type { Logger } from '@tether/protocol';
import type { Inbox, InboxClaim, InboxNotification, InboxSubscription } from './inbox.js';
import type { ResolvedNotificationOptions } from './notification-options.js';
import type { WireNotification } from './user-directory.js';

/** What `undelivered` carries for a durable notification that left the inbox unacknowledged. */
export interface UndeliveredNotification {
  /** `dead-letter`: delivered `maxAttempts` times, never acknowledged (kept, see `tether.deadLetters`); `expired`: its `ttlMs` passed. */
  reason: 'dead-letter' | 'expired';
  /** The notification id. */
  id: string;
  userId: string;
  event: string;
  data: unknown;
  /** Deliveries counted before it was given up. */
  attempts: number;
}

/** What `notification:offline` carries: a notification no connection acknowledged within `offlineAfterMs`. */
export interface OfflineNotification {
  userId: string;
  id: string;
  event: string;
  data: unknown;
  urgent: boolean;
  /** When it was stored, in ms since the epoch (the store's clock). */
  createdAt: number;
}

/** What the delivery part asks of the users part and the server. */
export interface DeliveryContext {
  readonly inbox: Inbox;
  readonly options: ResolvedNotificationOptions;
  readonly logger: Logger;
  /** This node's id: the claimer the inbox keeps per notification in flight. */
  readonly claimer: string;
  /** True while this node has a connection of the user open. */
  serves(user: string): boolean;
  /** The users with a connection open on this node. */
  users(): Iterable<string>;
  /**
   * Sends notifications to the user's connections on every node, in the order given; to this
   * node's before it returns. `resent`: the result of a claim with `resend`, which also goes to
   * the connections held back for it.
   */
  deliver(user: string, notes: WireNotification[], resent: boolean): Promise<void>;
  /**
   * A claim with `resend` starts: the user's connections opened before now wait for it (what
   * other nodes send them meanwhile is held back). The returned function lets them go once that
   * claim's notifications were sent (or the claim failed).
   */
  resendStarted(user: string): () => void;
  undelivered(message: UndeliveredNotification): void;
  offline(notification: OfflineNotification): void;
  /** Whether anyone listens to `notification:offline` on this node (no listener: no offline claims). */
  wantsOffline(): boolean;
}

/** Notifications claimed per call: a user with a longer backlog gets it in several rounds. */
const PAGE = 100;
/**
 * Notifications a resend claim takes at most: what is in flight is what was claimed within one
 * `ackTimeoutMs`, so one such page re-sends all of it in practice; the rounds after it are plain
 * claims (a resend of each page would send the previous page again, now in flight for this node).
 * Anything in flight beyond it for another node waits until it is due.
 */
const RESEND_PAGE = 1_000;
/** Rounds one wakeup may take before it yields to the sweep (bounds a loop over a huge backlog). */
const MAX_ROUNDS = 50;

/**
 * Moves durable notifications from the inbox to connections: claims for a user this node serves
 * when the inbox says something was stored (any node, or a backend's transaction), when one of
 * the user's connections opens, and when a claimed notification is due again (no ack within
 * `ackTimeoutMs`). One sweep timer per node drives the retries and the offline notices; claims
 * of one user never overlap on a node, so a user's notifications leave in the inbox's order.
 * Claims carry this node's id, so the inbox keeps that order across nodes (one holding a
 * notification in flight stops the others behind it); a connection that opens asks for a claim
 * with `resend`, which first re-sends what is in flight (it may have been sent to a connection
 * that is gone, or by a node that died), so the new connection starts at the oldest
 * unacknowledged notification.
 *
 * @example
 * const delivery = new NotificationDelivery(context);
 * delivery.wake('42');            // a connection of user 42 opened here
 * await delivery.close();
 */
export class NotificationDelivery {
  readonly #context: DeliveryContext;
  readonly #subscription: Promise<InboxSubscription | undefined>;
  readonly #timer: ReturnType<typeof setInterval>;
  /** Users whose claimed notifications are due again, and when (this node's clock, ms). */
  readonly #due = new Map<string, number>();
  /** Users with a claim under way; `true`: woken again meanwhile, claim once more. */
  readonly #claiming = new Map<string, boolean>();
  /** Users whose next claim round re-sends what is in flight (a connection opened). */
  readonly #resend = new Set<string>();
  #offlineRunning = false;
  #closed = false;

  constructor(context: DeliveryContext) {
    this.#context = context;
    const { inbox, logger } = context;
    this.#subscription = inbox
      .subscribe({
        onStored: (user) => this.wake(user),
        onExpired: (notes) => this.#expired(notes),
        onResync: () => {
          for (const user of context.users()) this.wake(user);
        },
        onError: (err) => logger.warn({ err }, 'notification inbox: background task failed'),
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'could not subscribe to the notification inbox: nothing is delivered');
        return undefined;
      });
    this.#timer = setInterval(() => this.#sweep(), context.options.sweepIntervalMs);
    this.#timer.unref?.();
  }

  /**
   * Claims and delivers what is due for `user`, if this node serves the user; with `resend`
   * (a connection of the user opened), what is in flight too, taken over from whoever holds it.
   */
  wake(user: string, resend = false): void {
    if (this.#closed || !this.#context.serves(user)) return;
    if (resend) this.#resend.add(user);
    if (this.#claiming.has(user)) {
      this.#claiming.set(user, true);
      return;
    }
    this.#claiming.set(user, false);
    void this.#claimRounds(user);
  }

  async #claimRounds(user: string): Promise<void> {
    const { inbox, options, logger } = this.#context;
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const resend = this.#resend.delete(user);
        const release = resend ? this.#context.resendStarted(user) : undefined;
        let claim: InboxClaim;
        // `deliver` sends to this node's connections before it returns (then to other nodes):
        // the held-back connections get the re-sent ones before anything sent meanwhile.
        let sending: Promise<void> | undefined;
        try {
          claim = await inbox.claim(user, {
            maxAttempts: options.maxAttempts,
            retryAfterMs: options.ackTimeoutMs,
            limit: resend ? RESEND_PAGE : PAGE,
            claimer: this.#context.claimer,
            resend,
          });
          if (claim.deliver.length > 0)
            sending = this.#context.deliver(user, claim.deliver.map(toWire), resend);
        } finally {
          release?.();
        }
        for (const dead of claim.deadLettered) {
          this.#context.undelivered({
            reason: 'dead-letter',
            id: dead.id,
            userId: dead.userId,
            event: dead.event,
            data: dead.data,
            attempts: dead.attempts,
          });
        }
        if (claim.retryInMs === null) this.#due.delete(user);
        else this.#due.set(user, Date.now() + claim.retryInMs);
        await sending;
        const again = claim.deliver.length >= PAGE || this.#claiming.get(user) === true;
        if (!again || this.#closed || !this.#context.serves(user)) return;
        this.#claiming.set(user, false);
      }
      // A very long backlog: the sweep takes it up again on its next round.
      this.#due.set(user, Date.now());
    } catch (err) {
      if (this.#closed) return;
      logger.warn({ err, user }, 'notification claim failed; retrying after ackTimeoutMs');
      this.#due.set(user, Date.now() + options.ackTimeoutMs);
    } finally {
      this.#claiming.delete(user);
      // A resend asked for and not served (the claim failed) waits for the user's next
      // wake; one for a user this node no longer serves is dropped.
      if (!this.#context.serves(user)) this.#resend.delete(user);
    }
  }

  /** The one timer: due retries of users this node serves, then offline notices. */
  #sweep(): void {
    if (this.#closed) return;
    const now = Date.now();
    for (const [user, at] of this.#due) {
      if (!this.#context.serves(user)) this.#due.delete(user);
      else if (at <= now) {
        this.#due.delete(user);
        this.wake(user);
      }
    }
    if (!this.#offlineRunning && this.#context.wantsOffline()) void this.#claimOffline();
  }

  async #claimOffline(): Promise<void> {
    const { inbox, options, logger } = this.#context;
    this.#offlineRunning = true;
    try {
      const notes = await inbox.claimOffline(options.offlineAfterMs, { limit: PAGE });
      for (const note of notes) {
        this.#context.offline({
          userId: note.userId,
          id: note.id,
          event: note.event,
          data: note.data,
          urgent: note.urgent,
          createdAt: note.createdAt,
        });
      }
    } catch (err) {
      if (!this.#closed) logger.warn({ err }, 'notification inbox: offline claim failed');
    } finally {
      this.#offlineRunning = false;
    }
  }

  #expired(notes: InboxNotification[]): void {
    for (const note of notes) {
      this.#context.undelivered({
        reason: 'expired',
        id: note.id,
        userId: note.userId,
        event: note.event,
        data: note.data,
        attempts: note.attempts,
      });
    }
  }

  /** Stops the sweep and leaves the inbox's listeners (the inbox itself is closed by its owner). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#due.clear();
    const subscription = await this.#subscription;
    await subscription
      ?.unsubscribe()
      .catch((err: unknown) => this.#context.logger.warn({ err }, 'notification inbox: unsubscribe failed'));
  }
}

function toWire(note: InboxNotification): WireNotification {
  return { id: note.id, event: note.event, data: note.data, urgent: note.urgent };
}
