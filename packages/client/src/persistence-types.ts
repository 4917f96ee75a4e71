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
  /** Ids of durable notifications this client handled (the newest 1,000), so a reload does not run listeners twice. */
  notifications?: string[];
}

/** What the client core uses of a persistence store (the core never loads the implementation). */
export interface PersistenceStore {
  load(): StoredState;
  schedule(snapshot: () => StoredState): void;
  dispose(): void;
}

/** Made by `persistTo` (from `@tether/client/persistence`); the client calls it with its endpoint URL. */
export type Persistence = (url: string) => PersistenceStore;
