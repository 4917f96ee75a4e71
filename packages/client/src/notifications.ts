import { type EventMessage, NOTIFICATION_ACK, type TetherError } from '@tether/protocol';
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
  /** Ids seen, oldest first: `true` handled, `false` its listeners are still running. */
  readonly #seen = new Map<string, boolean>();
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
    for (const id of saved.notifications ?? []) this.#seen.set(id, true);
    return {
      load: () => store.load(),
      schedule: (snapshot) => {
        this.#others = snapshot;
        store.schedule(this.#snapshot);
      },
      dispose: () => store.dispose(),
    };
  }

  readonly #snapshot = (): StoredState => ({
    ...this.#others(),
    notifications: [...this.#seen].filter(([, handled]) => handled).map(([id]) => id),
  });

  /** A server `evt`: a plain event goes to its listeners; a notification once, then it is acknowledged. */
  onEvent({ e, d, n: id }: EventMessage): void {
    if (id === undefined) {
      this.#events.emit(e, d);
      return;
    }
    const state = this.#seen.get(id);
    if (state) {
      this.#ack(id); // handled before: acknowledge again
      return;
    }
    const listeners = this.#events.listeners(e) as Listener[];
    // Running already, or nobody listens here: no ack, the server delivers it again later.
    if (state === false || listeners.length === 0) return;
    this.#seen.set(id, false);
    const meta: NotificationMeta = { id, notification: true };
    const run = (listener: Listener) => {
      try {
        return listener(d, meta);
      } catch (err) {
        return Promise.reject(err);
      }
    };
    Promise.all(listeners.map(run)).then(
      () => {
        this.#seen.set(id, true);
        if (this.#seen.size > REMEMBERED_NOTIFICATIONS) this.#seen.delete(this.#seen.keys().next().value!);
        this.#store?.schedule(this.#snapshot);
        this.#ack(id);
      },
      (err: unknown) => {
        this.#seen.delete(id);
        this.#events.onListenerError(err, e);
      },
    );
  }

  /** Acknowledgements of one tick leave in one request (or a few, of at most 100 ids). */
  #ack(id: string): void {
    if (this.#toAck.push(id) > 1) return;
    queueMicrotask(() => {
      const ids = this.#toAck;
      this.#toAck = [];
      for (let i = 0; i < ids.length; i += ACK_BATCH) {
        this.#request(NOTIFICATION_ACK, { ids: ids.slice(i, i + ACK_BATCH) }).catch((err: TetherError) => {
          // Closed: the next connection gets the notification again and acknowledges it then.
          if (err.code !== 'CLOSED' && this.#events.listenerCount('error') > 0)
            this.#events.emit('error', err);
        });
      }
    });
  }
}
