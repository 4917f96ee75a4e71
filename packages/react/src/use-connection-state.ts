import type { ClientState } from '@tether/client';
import { useCallback, useSyncExternalStore } from 'react';
import { useTetherClient } from './context.js';

const noop = () => {};
/** Before the client exists (server rendering, first browser render) it is about to connect. */
const serverState = (): ClientState => 'connecting';

/**
 * The connection's state, re-rendering on every change: `'connecting'`, `'open'`,
 * `'reconnecting'` (after a drop, while it tries again) or `'closed'`. Server rendering, and the
 * first render of a provider given a `url`, see `'connecting'`.
 *
 * @example
 * const state = useConnectionState();
 * return <span className={`dot ${state}`}>{state}</span>;
 */
export function useConnectionState(): ClientState {
  const client = useTetherClient();
  const subscribe = useCallback(
    (notify: () => void) => (client ? client.on('state', notify) : noop),
    [client],
  );
  return useSyncExternalStore(subscribe, () => client?.state ?? 'connecting', serverState);
}
