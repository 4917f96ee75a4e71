import type {
  EventData,
  EventMap,
  EventName,
  MessageMeta,
  NotificationMeta,
  Room,
  UnknownEvents,
} from '@tether/client';
import { useEffect, useInsertionEffect, useRef } from 'react';
import { useTetherClient } from './context.js';

type Handler = (data: unknown, meta: MessageMeta | NotificationMeta | undefined) => void;
type Target = { on(event: string, listener: Handler): () => void };

/**
 * Calls `handler` for every `event` of a room (from `useRoom`), or of the client (events sent to
 * this connection or user, and rooms the server joined it to) when no room is given. The latest
 * `handler` is always the one called, so it may read fresh props and state; the listener itself
 * stays attached across renders and reconnects. A `null` room listens to nothing (yet).
 *
 * @example
 * const { room } = useRoom<ChatEvents>('chat:lobby');
 * useEvent(room, 'message', (msg, meta) => add(msg, meta.offset));
 * useEvent('badge', (data) => setBadge(data));
 */
export function useEvent<R extends EventMap, K extends EventName<R>>(
  room: Room<R> | null | undefined,
  event: K,
  handler: (data: EventData<R, K>, meta: MessageMeta) => void,
): void;
export function useEvent<E extends EventMap = UnknownEvents, K extends EventName<E> = EventName<E>>(
  event: K,
  handler: (data: EventData<E, K>, meta: MessageMeta | NotificationMeta | undefined) => void,
): void;
export function useEvent(first: unknown, second: unknown, third?: unknown): void {
  const client = useTetherClient();
  // Three arguments: a room (possibly still null), an event, a handler; two: a client event.
  const roomGiven = typeof first !== 'string';
  const target = roomGiven ? ((first as Target | null | undefined) ?? null) : (client as Target | null);
  const event = (roomGiven ? second : first) as string;
  const handler = (roomGiven ? third : second) as Handler;

  const latest = useRef(handler);
  // Before any effect of this commit runs, so an event never reaches an older handler; insertion
  // effects do not run during server rendering.
  useInsertionEffect(() => {
    latest.current = handler;
  });

  useEffect(() => {
    if (!target) return;
    return target.on(event, (data, meta) => latest.current(data, meta));
  }, [target, event]);
}
