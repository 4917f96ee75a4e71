import {
  type ClientState,
  ErrorCode,
  type EventMap,
  type Room,
  type TetherClient,
  TetherError,
  type UnknownEvents,
} from '@tether/client';

/** Where a `useRoom` stands. */
export type RoomStatus = 'joining' | 'joined' | 'rejoining' | 'left' | 'error';

/** What `useRoom` returns. */
export interface RoomView<R extends EventMap = UnknownEvents> {
  /** The joined room, null until the join is answered (and after it failed). */
  room: Room<R> | null;
  status: RoomStatus;
  /**
   * The last rejoin's outcome: true when every message missed while away was delivered, false when
   * history no longer reached back (refetch the room's state), undefined until a rejoin happened.
   */
  recovered: boolean | undefined;
  /**
   * Why the join failed (status `error`): refused by the server's `authorizeJoin` (the first join,
   * or a rejoin after a reconnect), client closed, ...
   */
  error: Error | null;
}

type AnyClient = TetherClient<UnknownEvents>;
type AnyRoom = Room<EventMap>;

/**
 * One join shared by every `useRoom` of the same client and room name. Counting users lets
 * StrictMode's unmount-and-remount (and two components showing the same room) reuse one join,
 * and the room is left only when the last user is gone.
 */
export class RoomEntry {
  readonly name: string;
  readonly #client: AnyClient;
  readonly #table: Map<string, RoomEntry>;
  readonly #listeners = new Set<() => void>();
  readonly #unsubscribe: Array<() => void> = [];
  #users = 0;
  #room: AnyRoom | null = null;
  #error: Error | null = null;
  #view: RoomView<EventMap>;

  constructor(client: AnyClient, name: string, table: Map<string, RoomEntry>) {
    this.#client = client;
    this.name = name;
    this.#table = table;
    this.#view = { room: null, status: 'joining', recovered: undefined, error: null };
    client.join(name).then(
      (room) => this.#joined(room as unknown as AnyRoom),
      (err: Error) => this.#failed(err),
    );
  }

  /** A stable object until something in it changes (what `useSyncExternalStore` needs). */
  get view(): RoomView<EventMap> {
    return this.#view;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  acquire(): void {
    this.#users++;
  }

  release(): void {
    this.#users--;
    // After the current task: StrictMode's remount (and a component moving in the tree) acquire
    // again before then, and the join carries on untouched.
    queueMicrotask(() => this.#leaveIfUnused());
  }

  #leaveIfUnused(): void {
    // A join still in flight is left once it is answered (see #joined).
    if (this.#users > 0 || (!this.#room && !this.#error)) return;
    this.#dispose();
  }

  #dispose(): void {
    if (this.#table.get(this.name) === this) this.#table.delete(this.name);
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#room?.leave();
    this.#update();
  }

  #joined(room: AnyRoom): void {
    this.#room = room;
    if (this.#users === 0) {
      this.#dispose();
      return;
    }
    this.#unsubscribe.push(
      this.#client.on('state', () => this.#update()),
      room.on('tether:rejoined', () => this.#update()),
      room.on('tether:state', (state) => {
        if (state === 'refused')
          this.#failed(new TetherError(ErrorCode.JoinRefused, `rejoining "${this.name}" was refused`));
        else this.#update();
      }),
    );
    this.#update();
  }

  #failed(err: Error): void {
    this.#error = err;
    // The next mount tries again with a new entry.
    if (this.#table.get(this.name) === this) this.#table.delete(this.name);
    this.#update();
  }

  #update(): void {
    const next = this.#compute();
    const view = this.#view;
    if (
      next.room === view.room &&
      next.status === view.status &&
      next.recovered === view.recovered &&
      next.error === view.error
    )
      return;
    this.#view = next;
    for (const listener of [...this.#listeners]) listener();
  }

  #compute(): RoomView<EventMap> {
    const room = this.#room;
    if (this.#error) return { room: null, status: 'error', recovered: undefined, error: this.#error };
    if (!room) return { room: null, status: 'joining', recovered: undefined, error: null };
    return { room, status: statusOf(room.state, this.#client.state), recovered: room.recovered, error: null };
  }
}

function statusOf(room: AnyRoom['state'], connection: ClientState): RoomStatus {
  if (room === 'left') return 'left';
  if (room === 'rejoining' || connection !== 'open') return 'rejoining';
  return room === 'joined' ? 'joined' : 'joining';
}

const tables = new WeakMap<AnyClient, Map<string, RoomEntry>>();

/** The shared entry of `name` on `client`, joined on first use; call `release()` when done. */
export function acquireRoom(client: AnyClient, name: string): RoomEntry {
  let table = tables.get(client);
  if (!table) tables.set(client, (table = new Map()));
  let entry = table.get(name);
  if (!entry) table.set(name, (entry = new RoomEntry(client, name, table)));
  entry.acquire();
  return entry;
}
