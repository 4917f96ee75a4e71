import { ErrorCode, TetherError } from '@tether/protocol';
import { nanoid } from 'nanoid';
import type { TetherClientOptions } from './client-options.js';
import type { Outcome } from './room-registry.js';

/** What the refresher needs from the client. */
export interface RefreshHost {
  isOpen(): boolean;
  /** Encodes and sends an `auth` message on the open transport. */
  sendAuth(id: string, credentials: unknown): void;
}

/**
 * Calls the client's `auth` option (a value, or a function called each time) and returns what
 * it produced; a throw becomes an `UNAUTHORIZED` `TetherError`.
 *
 * @example
 * const credentials = await readCredentials(options.auth);
 */
export async function readCredentials(auth: TetherClientOptions['auth']): Promise<unknown> {
  try {
    return typeof auth === 'function' ? await (auth as () => unknown)() : auth;
  } catch (err) {
    throw new TetherError(ErrorCode.Unauthorized, `auth() failed: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * In-band credentials refresh (docs/security.md, "Expiry and refresh"): when the server asks
 * (`reauth`, before the credentials expire) or the app calls `client.refreshAuth()`, the client
 * calls its `auth` option again and sends the result on the open connection (`auth`); the server
 * answers `res` (accepted: the connection goes on, nothing is missed) or `err` and closes the
 * connection (4401 refused, 4411 another user).
 *
 * @example
 * const refresher = new AuthRefresher(options.auth, host);
 * await refresher.refresh();
 */
export class AuthRefresher {
  readonly #auth: TetherClientOptions['auth'];
  readonly #host: RefreshHost;
  readonly #pending = new Map<string, { resolve: () => void; reject: (err: TetherError) => void }>();

  constructor(auth: TetherClientOptions['auth'], host: RefreshHost) {
    this.#auth = auth;
    this.#host = host;
  }

  /**
   * The server asked (`reauth`): refresh. Nothing to report here: a refusal is followed by the
   * server's close (4401, reported), a throwing `auth()` by the expiry close (4440) and a
   * reconnect whose own `auth()` call reports it, a drop by the reconnect.
   */
  onReauth(): void {
    this.refresh().catch(() => {});
  }

  /** Calls `auth` again and sends it; resolves once the server accepted it, rejects if refused. */
  async refresh(): Promise<void> {
    if (!this.#host.isOpen()) throw new TetherError(ErrorCode.Closed, 'not connected');
    const credentials = await readCredentials(this.#auth);
    const id = nanoid();
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#host.sendAuth(id, credentials);
    });
  }

  /** Settles a refresh waiting for this reply id; false when the id is not a refresh's. */
  settle(id: string, outcome: Outcome): boolean {
    const waiter = this.#pending.get(id);
    if (!waiter) return false;
    this.#pending.delete(id);
    if (outcome.ok) waiter.resolve();
    else waiter.reject(new TetherError(outcome.code, outcome.message));
    return true;
  }

  /** The transport is gone: answers can no longer come. */
  dropAll(reason: string): void {
    const err = new TetherError(ErrorCode.Closed, reason);
    for (const waiter of this.#pending.values()) waiter.reject(err);
    this.#pending.clear();
  }
}
