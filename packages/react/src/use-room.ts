import type { EventMap, UnknownEvents } from '@tether/client';
import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { useTetherClient } from './context.js';
import { acquireRoom, type RoomEntry, type RoomView } from './room-registry.js';

const JOINING: RoomView<EventMap> = { room: null, status: 'joining', recovered: undefined, error: null };
const noop = () => {};

/**
 * Joins a room while the component is mounted and leaves it when the last component using it
 * unmounts. Components of one provider share one join per room name; StrictMode's
 * unmount-and-remount keeps that join (the leave waits for the end of the current task, and a
 * remount cancels it). Passing `null` joins nothing.
 *
 * Listen with `useEvent(room, name, handler)`: the room handle keeps its listeners across
 * reconnects, and missed messages arrive once, in order; `recovered === false` after a rejoin
 * means history no longer reached back and the app should refetch.
 *
 * @example
 * const { room, status, recovered } = useRoom<ChatEvents>('chat:lobby');
 * useEvent(room, 'message', (msg) => setMessages((list) => [...list, msg]));
 * if (status === 'error') return <p>Not allowed in this room</p>;
 */
export function useRoom<R extends EventMap = UnknownEvents>(name: string | null): RoomView<R> {
  const client = useTetherClient();
  const [entry, setEntry] = useState<RoomEntry | null>(null);

  useEffect(() => {
    if (!client || name === null) {
      setEntry(null);
      return;
    }
    const joined = acquireRoom(client, name);
    setEntry(joined);
    return () => joined.release();
  }, [client, name]);

  // The entry of a previous name or client is shown as joining until the effect swaps it.
  const current = entry && name === entry.name ? entry : null;
  const subscribe = useCallback(
    (notify: () => void) => (current ? current.subscribe(notify) : noop),
    [current],
  );
  const view = useSyncExternalStore(
    subscribe,
    () => current?.view ?? JOINING,
    () => JOINING,
  );
  return view as unknown as RoomView<R>;
}
