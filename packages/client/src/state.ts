import { CloseCode, ErrorCode, FATAL_CLOSE_CODES, TetherError } from '@tether/protocol';

/**
 * Client connection states and the only transitions between them.
 *
 * ```
 *              open                      drop (retryable)
 * connecting ───────► open ─────────────────────────► reconnecting
 *      │                ▲                                 │  │
 *      │ drop           └──────────── open ───────────────┘  │
 *      └──────────────────────────► reconnecting             │
 * any ── close() / fatal close code / attempts exhausted ──► closed
 * closed ── connect() ──► connecting
 * ```
 * While reconnecting, attempts happen inside the state (it does not pass through
 * `connecting` again): apps see `reconnecting`, then `open`.
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type ClientStateEvent = 'connect' | 'opened' | 'dropped' | 'closed';

const TRANSITIONS: Record<ClientState, Partial<Record<ClientStateEvent, ClientState>>> = {
  connecting: { opened: 'open', dropped: 'reconnecting', closed: 'closed' },
  open: { dropped: 'reconnecting', closed: 'closed' },
  reconnecting: { opened: 'open', closed: 'closed' },
  closed: { connect: 'connecting' },
};

/**
 * The next state, or undefined when the event does not apply in this state (it is then ignored).
 *
 * @example
 * nextState('open', 'dropped'); // 'reconnecting'
 * nextState('closed', 'dropped'); // undefined
 */
export function nextState(state: ClientState, event: ClientStateEvent): ClientState | undefined {
  return TRANSITIONS[state][event];
}

/**
 * The error a close ends the client with, or undefined when the client reconnects after it:
 * fatal close codes (session replaced, unauthorized, forbidden) and refused handshakes (401, 403).
 *
 * @example
 * fatalCloseError(4409, 'replaced')?.code; // 'CLOSED'
 */
export function fatalCloseError(code: number, reason: string, status?: number): TetherError | undefined {
  if (!FATAL_CLOSE_CODES.has(code) && status !== 401 && status !== 403) return undefined;
  const errorCode =
    code === CloseCode.SessionReplaced || code === CloseCode.UserDisconnected
      ? ErrorCode.Closed
      : status === 403 || code === CloseCode.Forbidden
        ? ErrorCode.Forbidden
        : ErrorCode.Unauthorized;
  return new TetherError(errorCode, reason || `refused (${status ?? code})`);
}
