import {
  type ClientEventName,
  type ClientRequestOptions,
  type EventData,
  type EventMap,
  type EventName,
  type EventReply,
  type RequestArgs,
  TetherError,
  type UnknownEvents,
} from '@tether/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useTetherClient } from './context.js';

/** What `useRequest(event)` returns. */
export interface RequestState<E extends EventMap, K extends EventName<E>> {
  /**
   * Sends the request (acked, retried with the same id: the server's handler runs once) and
   * resolves with the handler's reply. The returned promise rejects on failure, but a caller may
   * ignore it: the failure is also in `error`, and is never reported as unhandled.
   */
  request: (data?: EventData<E, K>, options?: ClientRequestOptions) => Promise<EventReply<E, K>>;
  /** True while a request of this hook is in flight. */
  pending: boolean;
  /** The failure of the latest request (`TetherError` with its `code`), cleared when the next one starts. */
  error: Error | null;
  /** The reply of the latest request that succeeded. */
  reply: EventReply<E, K> | undefined;
}

interface Progress {
  inFlight: number;
  error: Error | null;
  reply: unknown;
}

const IDLE: Progress = { inFlight: 0, error: null, reply: undefined };

/**
 * A request to the server with its progress as state, for forms and buttons.
 *
 * @example
 * const { request, pending, error } = useRequest<ChatEvents, 'chat:send'>('chat:send');
 * <button disabled={pending} onClick={() => request({ text })}>Send</button>
 * {error && <p role="alert">{error.message}</p>}
 */
export function useRequest<
  E extends EventMap = UnknownEvents,
  K extends ClientEventName<E> = ClientEventName<E>,
>(event: K): RequestState<E, K> {
  const client = useTetherClient<E>();
  const [progress, setProgress] = useState<Progress>(IDLE);
  const latest = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const request = useCallback(
    (data?: EventData<E, K>, options?: ClientRequestOptions): Promise<EventReply<E, K>> => {
      const id = ++latest.current;
      const promise = client
        ? client.request(event, ...([data, options] as RequestArgs<E, K>))
        : Promise.reject(new TetherError('NOT_CONNECTED', 'the Tether client is not created yet'));
      setProgress((p) => ({ inFlight: p.inFlight + 1, error: null, reply: p.reply }));
      const settle = (next: Partial<Progress>) => {
        if (!mounted.current) return;
        setProgress((p) => ({
          inFlight: p.inFlight - 1,
          // Only the latest request decides what the hook shows.
          error: id === latest.current ? (next.error ?? null) : p.error,
          reply: id === latest.current && 'reply' in next ? next.reply : p.reply,
        }));
      };
      // Handling the rejection here also marks `promise` handled: a caller that ignores it does
      // not get an unhandled rejection, and one that awaits it still sees the error.
      promise.then(
        (reply) => settle({ reply }),
        (err: Error) => settle({ error: err }),
      );
      return promise;
    },
    [client, event],
  );

  return {
    request,
    pending: progress.inFlight > 0,
    error: progress.error,
    reply: progress.reply as EventReply<E, K> | undefined,
  };
}
