import type { ClientState, MessageMeta, PresenceMember, Room } from '@tether/client';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createTetherHooks,
  type RoomStatus,
  useConnectionState,
  useEvent,
  useRequest,
  useRoom,
} from '../src/index.js';

type Events = {
  'chat:send': { data: { text: string }; reply: { id: string } };
  message: { data: { from: string; text: string } };
  badge: { data: { n: number } };
};
const hooks = createTetherHooks<Events>();

describe('hook types', () => {
  it('types rooms, events and requests by the map given to createTetherHooks', () => {
    const { room, status, recovered, error } = hooks.useRoom('chat:1');
    expectTypeOf(room).toEqualTypeOf<Room<Events> | null>();
    expectTypeOf(status).toEqualTypeOf<RoomStatus>();
    expectTypeOf(recovered).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(error).toEqualTypeOf<Error | null>();

    hooks.useEvent(room, 'message', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ from: string; text: string }>();
      expectTypeOf(meta).toEqualTypeOf<MessageMeta>();
    });
    hooks.useEvent('badge', (data) => expectTypeOf(data).toEqualTypeOf<{ n: number }>());
    // @ts-expect-error not an event of the map
    hooks.useEvent(room, 'nope', () => {});

    const { request, pending } = hooks.useRequest('chat:send');
    expectTypeOf(request).parameter(0).toEqualTypeOf<{ text: string } | undefined>();
    expectTypeOf(request).returns.toEqualTypeOf<Promise<{ id: string }>>();
    expectTypeOf(pending).toEqualTypeOf<boolean>();
    expectTypeOf(hooks.usePresence(room)).toEqualTypeOf<PresenceMember[]>();
    expectTypeOf(hooks.useConnectionState()).toEqualTypeOf<ClientState>();
  });

  it('keeps every payload unknown without a map, never any', () => {
    const { room } = useRoom('chat:1');
    useEvent(room, 'anything', (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
    useEvent('badge', (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
    const { request } = useRequest('chat:send');
    expectTypeOf(request).returns.toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(useConnectionState()).toEqualTypeOf<ClientState>();
  });
});
