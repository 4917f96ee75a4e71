import type { EventMap, TetherClient, UnknownEvents } from '@tether/client';
import { TetherError } from '@tether/client';
import { createContext, useContext } from 'react';

/**
 * What a provider hands down. `client` is null until the provider created it (a provider given a
 * `url` creates its client in an effect, so server rendering never opens a connection).
 */
export interface TetherContextValue {
  client: TetherClient<UnknownEvents> | null;
}

/** @internal the provider's context; read it through the hooks. */
export const TetherContext = createContext<TetherContextValue | null>(null);

/**
 * The client of the nearest `<TetherProvider>`, or null while it is being created (during server
 * rendering, and on the first render in the browser when the provider was given a `url`).
 * Throws a `TetherError` with code `NO_PROVIDER` outside a provider: a missing provider is a bug
 * in the app, not a state to render.
 *
 * @example
 * const client = useTetherClient();
 * useEffect(() => { if (client) client.emit('hello', {}); }, [client]);
 */
export function useTetherClient<E extends EventMap = UnknownEvents>(): TetherClient<E> | null {
  const value = useContext(TetherContext);
  if (!value) throw new TetherError('NO_PROVIDER', 'Tether hooks must be used inside <TetherProvider>');
  // The provider holds one client of whatever map the app chose; the caller names that map.
  return value.client as unknown as TetherClient<E> | null;
}
