import type { Position } from '@tether/protocol';
import type { Persistence, PersistenceStore, StoredState, TetherStorage } from './persistence-types.js';

export type { Persistence, PersistenceStore, StoredState, TetherStorage };

const EMPTY: StoredState = { rooms: {}, serverRooms: {} };
/** Positions change with every message; writing storage that often would cost more than it saves. */
const SAVE_DELAY_MS = 250;

function isPositionMap(value: unknown): value is Record<string, Position> {
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).every(
    (p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && Number.isSafeInteger(p[1]),
  );
}

/** Options of `persistTo`. */
export interface PersistOptions {
  /** Key under which the client's state is kept. Default `tether:<endpoint url>`. */
  key?: string;
  /**
   * Also keep the session, so a reload resumes it (request dedup, pending acks). Only for storage
   * one tab owns: two tabs sharing a session replace each other. Default false.
   */
  session?: boolean;
}

/**
 * Keeps a client's room positions (and optionally its session) in `localStorage` or any storage
 * with the same three methods, so a user who closes the tab and comes back within the history
 * window gets what they missed. A separate entry point, so clients that do not persist anything
 * do not carry it.
 *
 * @example
 * import { persistTo } from '@tether/client/persistence';
 * const client = new TetherClient(url, { persistence: persistTo(localStorage) });
 */
export function persistTo(storage: TetherStorage, options: PersistOptions = {}): Persistence {
  return (url) => new PositionStore(storage, options.key ?? `tether:${url}`, options.session === true);
}

/**
 * The state store behind `persistTo`. Saves are batched: at most one write per 250 ms, plus one
 * on close and on `pagehide`.
 */
export class PositionStore implements PersistenceStore {
  readonly #storage: TetherStorage;
  readonly #key: string;
  readonly #persistSession: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #snapshot: (() => StoredState) | undefined;
  #disposed = false;
  readonly #onPageHide = () => this.flush();

  constructor(storage: TetherStorage, key: string, persistSession: boolean) {
    this.#storage = storage;
    this.#key = key;
    this.#persistSession = persistSession;
    globalThis.addEventListener?.('pagehide', this.#onPageHide);
  }

  load(): StoredState {
    try {
      const raw = this.#storage.getItem(this.#key);
      if (!raw) return EMPTY;
      const parsed = JSON.parse(raw) as Partial<StoredState>;
      const session = parsed.session;
      const notifications = parsed.notifications;
      return {
        rooms: isPositionMap(parsed.rooms) ? parsed.rooms : {},
        serverRooms: isPositionMap(parsed.serverRooms) ? parsed.serverRooms : {},
        ...(Array.isArray(notifications) && notifications.every((id) => typeof id === 'string')
          ? { notifications: notifications.slice(-1_000) }
          : {}),
        ...(this.#persistSession && typeof session?.sid === 'string' && typeof session.sk === 'string'
          ? { session: { sid: session.sid, sk: session.sk } }
          : {}),
      };
    } catch {
      // Unreadable storage (quota, privacy mode, corrupt value) means starting fresh, not failing.
      return EMPTY;
    }
  }

  /** Asks for a save soon; `snapshot` is called when it happens. */
  schedule(snapshot: () => StoredState): void {
    if (this.#disposed) return;
    this.#snapshot = snapshot;
    this.#timer ??= setTimeout(() => this.flush(), SAVE_DELAY_MS);
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const snapshot = this.#snapshot?.();
    if (!snapshot) return;
    const { session, ...positions } = snapshot;
    try {
      this.#storage.setItem(
        this.#key,
        JSON.stringify(this.#persistSession && session ? { ...positions, session } : positions),
      );
    } catch {
      // A full or unavailable storage only costs recovery after a reload.
    }
  }

  dispose(): void {
    this.flush();
    this.#disposed = true;
    globalThis.removeEventListener?.('pagehide', this.#onPageHide);
  }
}
