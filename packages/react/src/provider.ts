import { type EventMap, TetherClient, type TetherClientOptions, type UnknownEvents } from '@tether/client';
import {
  createElement,
  type ReactElement,
  type ReactNode,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { TetherContext, type TetherContextValue } from './context.js';

/** Props of `<TetherProvider>`: a client the app made, or a URL (and options) to make one from. */
export type TetherProviderProps<E extends EventMap = UnknownEvents> = { children?: ReactNode } & (
  | {
      /** A client the app created and owns: the provider never closes it. */
      client: TetherClient<E>;
      url?: never;
      options?: never;
    }
  | {
      /** The endpoint: the provider creates the client in an effect (never during rendering) and closes it on unmount. */
      url: string;
      /** Read when the client is created; changing them later has no effect (change `url` to start over). */
      options?: TetherClientOptions;
      client?: never;
    }
);

interface Owned {
  client: TetherClient<UnknownEvents>;
  url: string;
  /** Set by the effect's cleanup; a remount in the same task (StrictMode) clears it and keeps the client. */
  closing: boolean;
}

/**
 * Makes one Tether client available to the hooks below it. Give it a `client` you created (it
 * stays yours), or a `url` (and `options`): then the provider creates the client after mounting,
 * so importing and server rendering touch no network, and closes it when unmounted.
 *
 * @example
 * const client = new TetherClient<Events>(location.origin + '/tether');
 * createRoot(el).render(<TetherProvider client={client}><App /></TetherProvider>);
 * // or, creating the client on the browser only:
 * <TetherProvider url="/tether" options={{ auth: () => ({ token }) }}><App /></TetherProvider>
 */
export function TetherProvider<E extends EventMap = UnknownEvents>(
  props: TetherProviderProps<E>,
): ReactElement {
  const given = (props.client ?? null) as TetherClient<UnknownEvents> | null;
  const url = given ? undefined : props.url;
  const optionsRef = useRef(props.options);
  optionsRef.current = props.options;
  const owned = useRef<Owned | null>(null);
  const [created, setCreated] = useState<TetherClient<UnknownEvents> | null>(null);

  useEffect(() => {
    if (url === undefined) return;
    let entry = owned.current;
    if (entry && entry.url === url && entry.closing) {
      // StrictMode unmounted and remounted us in the same task: keep the connection.
      entry.closing = false;
    } else {
      entry = { client: new TetherClient<UnknownEvents>(url, optionsRef.current), url, closing: false };
      owned.current = entry;
    }
    const mine = entry;
    setCreated(mine.client);
    return () => {
      mine.closing = true;
      // Closed after the current task, so a remount in the same task can take the client back.
      queueMicrotask(() => {
        if (!mine.closing) return;
        mine.client.close();
        if (owned.current === mine) owned.current = null;
      });
    };
  }, [url]);

  const client = given ?? created;
  const value = useMemo<TetherContextValue>(() => ({ client }), [client]);
  return createElement(TetherContext.Provider, { value }, props.children);
}
