import type { Position } from '@tether/protocol';

/** The synchronous storage API of `localStorage`/`sessionStorage`; any object with these three methods works. */
export interface TetherStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What the client keeps across reloads. */
export interface StoredState {
  /** Rooms the client joined, with the last position seen. */
  rooms: Record<string, Position>;
  /** Rooms the server joined this client to, with the last position seen. */
  serverRooms: Record<string, Position>;
  /** The session, only when `persistSession` is on. */
  session?: { sid: string; sk: string };
}

const EMPTY: StoredState = { rooms: {}, serverRooms: {} };
/** Positions change with every message; writing storage that often would cost more than it saves. */
const SAVE_DELAY_MS = 250;

function isPositionMap(value: unknown): value is Record<string, Position> {
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).every(
    (p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && Number.isSafeInteger(p[1]),
  );
}

/**
 * Keeps room positions (and optionally the session) in a storage such as `localStorage`, so a
 * user who closes the tab and comes back within the history window gets what they missed.
 * Saves are batched: at most one write per 250 ms, plus one on close and on `pagehide`.
 *
 * @example
 * const store = new PositionStore(localStorage, 'tether:https://example.com/tether', false);
 * const saved = store.load();
 */
export class PositionStore {
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
      return {
        rooms: isPositionMap(parsed.rooms) ? parsed.rooms : {},
        serverRooms: isPositionMap(parsed.serverRooms) ? parsed.serverRooms : {},
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
