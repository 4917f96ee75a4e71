import { CloseCode, ErrorCode, FATAL_CLOSE_CODES, TetherError } from '@tether/protocol';

/** What the client does once its transport closed (docs/protocol.md, "Close codes"). */
export type AfterClose =
  /** Go to `closed` and report the error: reconnecting would be refused again. */
  | { stop: TetherError }
  | {
      stop?: undefined;
      /** Reconnect with a new session: this one went to another connection, or to another user. */
      forgetSession: boolean;
      /** Said to `error` listeners before reconnecting. */
      report?: TetherError;
    };

/**
 * Decides from a close code (and the HTTP status of a refused handshake, where the environment
 * shows it) whether the client stops or reconnects.
 *
 * @example
 * afterClose(4401, 'credentials refused', undefined, true); // { stop: TetherError UNAUTHORIZED }
 */
export function afterClose(
  code: number,
  reason: string,
  status: number | undefined,
  wasOpen: boolean,
): AfterClose {
  // The app ended every connection of this user (`tether.user(key).disconnect`): its reason, once.
  if (code === CloseCode.UserDisconnected)
    return { stop: new TetherError(ErrorCode.Closed, reason || 'disconnected by the server') };
  if (FATAL_CLOSE_CODES.has(code) || status === 401 || status === 403) {
    const forbidden = status === 403 || code === CloseCode.Forbidden;
    return {
      stop: new TetherError(
        forbidden ? ErrorCode.Forbidden : ErrorCode.Unauthorized,
        reason || `refused (${status ?? code})`,
      ),
    };
  }
  // Another connection took this session (a second tab sharing stored state): start a new one,
  // never fight for the old one, never stop for it.
  const forgetSession = code === CloseCode.SessionReplaced || code === CloseCode.UserChanged;
  // Too many connections for this address or user: said out loud, then retried with backoff.
  if (status === 429 || (code === CloseCode.RateLimited && !wasOpen))
    return {
      forgetSession,
      report: new TetherError(ErrorCode.TooManyConnections, reason || 'refused (429)'),
    };
  return { forgetSession };
}
