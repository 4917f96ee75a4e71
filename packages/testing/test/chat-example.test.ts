// The worked example of docs/testing-your-app.md: keep the two in step.
import { createTestPair, fence, type TestPair, waitForState } from '@tether/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { attachChat, type ChatEvents, type User } from './fixtures/chat.js';

let pair: TestPair<ChatEvents, User>;

beforeEach(async () => {
  pair = await createTestPair<ChatEvents, User>({
    server: {
      authenticate: (_req, auth) => {
        const name = (auth as { name?: unknown } | undefined)?.name;
        return typeof name === 'string' ? { name } : null;
      },
      authorizeJoin: (_conn, room) => room.startsWith('chat:'),
    },
    client: { auth: { name: 'bob' } }, // options of every client the pair makes
    setup: attachChat,
  });
});
afterEach(() => pair.close());

it('delivers a message to everyone in the room, and acks the sender with its offset', async () => {
  const alice = pair.newClient({ auth: { name: 'alice' } });
  const [, bobRoom] = await Promise.all([alice.join('chat:1'), pair.client.join('chat:1')]);
  const bobSaw: string[] = [];
  bobRoom.on('chat:message', (m) => bobSaw.push(`${m.from}: ${m.text}`));

  const reply = await alice.request('chat:send', { room: 'chat:1', text: 'hi bob' });
  await fence(pair.tether.to('chat:1'), bobRoom);
  expect(bobSaw).toEqual(['alice: hi bob']); // exactly this: the fence came after it
  expect(reply.offset).toBeGreaterThan(0);
});

it('refuses a message to a room the sender is not in, and an empty one', async () => {
  await expect(pair.client.request('chat:send', { room: 'chat:1', text: 'hi' })).rejects.toMatchObject({
    code: 'NOT_IN_ROOM',
  });
  await pair.client.join('chat:1');
  await expect(pair.client.request('chat:send', { room: 'chat:1', text: ' ' })).rejects.toMatchObject({
    code: 'EMPTY',
  });
});

it('bob misses nothing alice says while his network is cut', async () => {
  // Alice bypasses the proxy: the cut is Bob's alone.
  const alice = pair.newClient({ auth: { name: 'alice' }, direct: true });
  await alice.join('chat:1');
  const bobRoom = await pair.client.join('chat:1');
  const bobSaw: string[] = [];
  bobRoom.on('chat:message', (m) => bobSaw.push(m.text));

  await alice.request('chat:send', { room: 'chat:1', text: 'one' });
  pair.network.cut();
  await alice.request('chat:send', { room: 'chat:1', text: 'two' });
  await alice.request('chat:send', { room: 'chat:1', text: 'three' });
  await waitForState(pair.client, 'open');
  await alice.request('chat:send', { room: 'chat:1', text: 'four' });

  await fence(pair.tether.to('chat:1'), bobRoom);
  expect(bobSaw).toEqual(['one', 'two', 'three', 'four']);
  expect(bobRoom.recovered).toBe(true);
});
