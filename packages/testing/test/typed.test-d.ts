import type { Room, TetherClient } from '@tether/client';
import type { Connection, TetherServer } from '@tether/server';
import {
  createTestPair,
  type FenceSender,
  fence,
  type Listenable,
  type TestPair,
  waitForEvent,
  waitForState,
} from '@tether/testing';
import { expectTypeOf, test } from 'vitest';

type Events = {
  'chat:send': { data: { text: string }; reply: { ok: boolean } };
  message: { data: { text: string } };
};

test('a typed pair types its server, clients and connections', async () => {
  const pair = await createTestPair<Events, { userId: string }>({
    server: { authenticate: () => ({ userId: '1' }) },
    setup: (tether) => {
      expectTypeOf(tether).toEqualTypeOf<TetherServer<Events, { userId: string }>>();
    },
  });
  expectTypeOf(pair).toEqualTypeOf<TestPair<Events, { userId: string }>>();
  expectTypeOf(pair.client).toEqualTypeOf<TetherClient<Events>>();
  expectTypeOf(pair.connectionOf(pair.client)).toEqualTypeOf<Connection<Events, { userId: string }>>();
  expectTypeOf(pair.client.request('chat:send', { text: 'hi' })).resolves.toEqualTypeOf<{ ok: boolean }>();
});

test('typed clients, rooms, connections and operators fit the helpers', async () => {
  const pair = await createTestPair<Events>();
  const room: Room<Events> = await pair.client.join('chat:1');
  expectTypeOf(pair.client).toMatchTypeOf<Listenable>();
  expectTypeOf(room).toMatchTypeOf<Listenable>();
  expectTypeOf(pair.tether).toMatchTypeOf<Listenable>();
  expectTypeOf(pair.connectionOf(pair.client)).toMatchTypeOf<Listenable>();
  expectTypeOf(pair.tether.to('chat:1')).toMatchTypeOf<FenceSender>();
  expectTypeOf(pair.connectionOf(pair.client)).toMatchTypeOf<FenceSender>();
  await fence(pair.tether.to('chat:1'), room);
  await waitForState(pair.client, 'open');
  expectTypeOf(waitForEvent(room, 'message')).resolves.toEqualTypeOf<unknown[]>();
  // @ts-expect-error not a client state
  await waitForState(pair.client, 'opened');
});
