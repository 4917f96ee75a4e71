import { type EventMessage, NOTIFICATION_ACK, TetherError } from '@tether/protocol';
import type { Emitter } from './emitter.js';
import type { PersistenceStore, StoredState } from './persistence-types.js';

/**
 * The `meta` a client-level listener gets for a durable notification (`tether.user(key).notify`).
 * The room fields are absent, so `meta?.offset` reads as `undefined` for a notification.
 */
export interface NotificationMeta {
  /** The notification id: the same on every redelivery (the server's `notify` `id`). */
  id: string;
  notification: true;
  room?: undefined;
  offset?: undefined;
  epoch?: undefined;
  volatile?: undefined;
}

/** Handled notification ids a client remembers (the newest), in memory and, with `persistence`, across reloads. */
export const REMEMBERED_NOTIFICATIONS = 1_000;
/** Most ids one acknowledgement carries. */
const ACK_BATCH = 100;

type Listener = (data: unknown, meta: NotificationMeta) => unknown;

/**
 * The client's side of durable notifications: an `evt` with a notification id (`n`) goes to the
 * event's listeners once; when every listener returned (a returned promise resolved) the id is
 * remembered and acknowledged with the built-in request `tether:ack`. A listener that throws or
 * rejects is reported as an `error` and the notification is not acknowledged: the server delivers
 * it again later, and it becomes a dead letter after `maxAttempts`. With no listener for the
 * event, nothing is acknowledged either. A redelivered id that was handled is acknowledged again
 * without calling listeners; with `persistence` the handled ids survive a reload.
 *
 * @example
 * const notifications = new ClientNotifications(events, (e, d) => request(e, d));
 * store = notifications.persistWith(store);
 * notifications.onEvent({ t: 'evt', e: 'order:status', d: { state: 'picked-up' }, n: 'evt-981' });
 */
export class ClientNotifications {
  readonly #events: Emitter<Record<string, unknown[]>>;
  readonly #request: (event: string, data: unknown) => Promise<unknown>;
  /** Handled ids, oldest first (a Set keeps insertion order). */
  readonly #handled = new Set<string>();
  /** Ids whose listeners are still running. */
  readonly #running = new Set<string>();
  #toAck: string[] = [];
  #store: PersistenceStore | undefined;
  /** What the client saved besides these ids (rooms, session): the room registry's snapshot. */
  #others: () => StoredState = () => ({ rooms: {}, serverRooms: {} });

  constructor(
    events: Emitter<Record<string, unknown[]>>,
    request: (event: string, data: unknown) => Promise<unknown>,
  ) {
    this.#events = events;
    this.#request = request;
  }

  /**
   * Shares the client's persistence store: the handled ids are saved in the same entry as the
   * room positions (whatever snapshot the rooms scheduled last, plus the ids).
   */
  persistWith(store: PersistenceStore | undefined): PersistenceStore | undefined {
    if (!store) return undefined;
    this.#store = store;
    const saved = store.load();
    this.#others = () => saved;
    for (const id of saved.notifications ?? []) this.#remember(id);
    return {
      load: () => store.load(),
      schedule: (snapshot) => {
        this.#others = snapshot;
        store.schedule(this.#snapshot);
      },
      dispose: () => store.dispose(),
    };
  }

  readonly #snapshot = (): StoredState => ({ ...this.#others(), notifications: [...this.#handled] });

  /** A server `evt`: a plain event goes to its listeners; a notification once, then it is acknowledged. */
  onEvent(message: EventMessage): void {
    const id = message.n;
    if (id === undefined) {
      this.#events.emit(message.e, message.d);
      return;
    }
    if (this.#handled.has(id)) {
      this.#ack(id);
      return;
    }
    if (this.#running.has(id)) return;
    const listeners = this.#events.listeners(message.e) as Listener[];
    if (listeners.length === 0) return; // not handled here: the server delivers it again later
    const meta: NotificationMeta = { id, notification: true };
    const results: unknown[] = [];
    let failed = false;
    for (const listener of listeners) {
      try {
        results.push(listener(message.d, meta));
      } catch (err) {
        failed = true;
        this.#events.onListenerError(err, message.e);
      }
    }
    if (failed) return;
    this.#running.add(id);
    Promise.all(results).then(
      () => {
        this.#running.delete(id);
        this.#remember(id);
        this.#store?.schedule(this.#snapshot);
        this.#ack(id);
      },
      (err: unknown) => {
        this.#running.delete(id);
        this.#events.onListenerError(err, message.e);
      },
    );
  }

  #remember(id: string): void {
    this.#handled.add(id);
    if (this.#handled.size > REMEMBERED_NOTIFICATIONS) {
      const oldest = this.#handled.values().next().value;
      if (oldest !== undefined) this.#handled.delete(oldest);
    }
  }

  /** Acknowledgements of one tick leave in one request (or a few, of at most 100 ids). */
  #ack(id: string): void {
    if (this.#toAck.push(id) > 1) return;
    queueMicrotask(() => {
      const ids = this.#toAck;
      this.#toAck = [];
      for (let i = 0; i < ids.length; i += ACK_BATCH) {
        this.#request(NOTIFICATION_ACK, { ids: ids.slice(i, i + ACK_BATCH) }).catch((err: unknown) => {
          // Closed: the next connection gets the notification again and acknowledges it then.
          if (err instanceof TetherError && err.code === 'CLOSED') return;
          if (this.#events.listenerCount('error') > 0) this.#events.emit('error', err);
        });
      }
    });
  }
}
