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
