import type { Logger } from '@tether/protocol';
import type { Inbox, InboxNotification, InboxSubscription } from './inbox.js';
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
  /** True while this node has a connection of the user open. */
  serves(user: string): boolean;
  /** The users with a connection open on this node. */
  users(): Iterable<string>;
  /** Sends notifications to the user's connections on every node, in the order given. */
  deliver(user: string, notes: WireNotification[]): Promise<void>;
  undelivered(message: UndeliveredNotification): void;
  offline(notification: OfflineNotification): void;
  /** Whether anyone listens to `notification:offline` on this node (no listener: no offline claims). */
  wantsOffline(): boolean;
}

/** Notifications claimed per call: a user with a longer backlog gets it in several rounds. */
const PAGE = 100;
/** Rounds one wakeup may take before it yields to the sweep (bounds a loop over a huge backlog). */
const MAX_ROUNDS = 50;

/**
 * Moves durable notifications from the inbox to connections: claims for a user this node serves
 * when the inbox says something was stored (any node, or a backend's transaction), when one of
 * the user's connections opens, and when a claimed notification is due again (no ack within
 * `ackTimeoutMs`). One sweep timer per node drives the retries and the offline notices; claims
 * of one user never overlap on a node, so a user's notifications leave in the inbox's order.
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

  /** Claims and delivers what is due for `user`, if this node serves the user. */
  wake(user: string): void {
    if (this.#closed || !this.#context.serves(user)) return;
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
        const claim = await inbox.claim(user, {
          maxAttempts: options.maxAttempts,
          retryAfterMs: options.ackTimeoutMs,
          limit: PAGE,
        });
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
        if (claim.deliver.length > 0) await this.#context.deliver(user, claim.deliver.map(toWire));
        const again = claim.deliver.length === PAGE || this.#claiming.get(user) === true;
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
