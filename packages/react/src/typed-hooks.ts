import type {
  ClientEventName,
  ClientState,
  EventData,
  EventMap,
  EventName,
  MessageMeta,
  PresenceMember,
  Room,
  TetherClient,
} from '@tether/client';
import { useTetherClient } from './context.js';
import type { RoomView } from './room-registry.js';
import { useConnectionState } from './use-connection-state.js';
import { useEvent } from './use-event.js';
import { usePresence } from './use-presence.js';
import { type RequestState, useRequest } from './use-request.js';
import { useRoom } from './use-room.js';

/** The hooks with one event map applied, from `createTetherHooks<Events>()`. */
export interface TetherHooks<E extends EventMap> {
  useTetherClient: () => TetherClient<E> | null;
  useConnectionState: () => ClientState;
  useRoom: <R extends EventMap = E>(name: string | null) => RoomView<R>;
  useEvent: {
    <R extends EventMap, K extends EventName<R>>(
      room: Room<R> | null | undefined,
      event: K,
      handler: (data: EventData<R, K>, meta: MessageMeta) => void,
    ): void;
    <K extends EventName<E>>(
      event: K,
      handler: (data: EventData<E, K>, meta: MessageMeta | undefined) => void,
    ): void;
  };
  usePresence: <R extends EventMap>(room: Room<R> | null | undefined) => PresenceMember[];
  useRequest: <K extends ClientEventName<E>>(event: K) => RequestState<E, K>;
}

/**
 * The same hooks, typed by the app's event map once instead of at every call: rooms, events,
 * payloads and replies are checked against `E`. Creates nothing at run time.
 *
 * @example
 * type Events = { 'chat:send': { data: { text: string }; reply: { id: string } }; message: { data: Msg } };
 * export const { useRoom, useEvent, useRequest } = createTetherHooks<Events>();
 * const { request } = useRequest('chat:send'); // request({ text }) resolves to { id }
 */
export function createTetherHooks<E extends EventMap>(): TetherHooks<E> {
  return {
    useTetherClient: useTetherClient<E>,
    useConnectionState,
    useRoom,
    useEvent: useEvent as TetherHooks<E>['useEvent'],
    usePresence,
    useRequest: useRequest as TetherHooks<E>['useRequest'],
  };
}
