/**
 * Options of `conn.emit` and broadcasts.
 *
 * @example
 * conn.emit('cursor', { x, y }, { volatile: true, conflate: true });
 */
export interface EmitOptions {
  /** Drop instead of queueing when the connection is congested; never retried. */
  volatile?: boolean;
  /** Go ahead of messages already queued for this (congested) connection. */
  urgent?: boolean;
  /** Latest value wins: replaces a queued message of the same event and key (`true`: per event). */
  conflate?: string | true;
}

/**
 * Options of `conn.request`.
 *
 * @example
 * await conn.request('confirm', data, { timeout: 5_000, retries: 3 });
 */
export interface RequestOptions {
  /** Time to wait for the client's ack per attempt, in ms. Default 5 000. */
  timeout?: number;
  /** Extra attempts after the first, with the same message id. Default 0. */
  retries?: number;
}
