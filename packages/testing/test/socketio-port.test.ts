// The Tether side of the port in docs/coming-from-socketio.md, run as written there.
import type { TetherServer, UnknownEvents } from '@tether/server';
import { createTestPair, fence, type TestPair, waitFor } from '@tether/testing';
import { afterEach, expect, it } from 'vitest';

type Name = { name: string };
let pair: TestPair<UnknownEvents, Name>;
afterEach(() => pair.close());

function chat(tether: TetherServer<UnknownEvents, Name>, left: string[]) {
  tether.on('connection', (conn) => {
    conn.on('chat', async (data) => {
      const { room, text } = data as { room: string; text: string };
      await tether.to(room).emit('chat', { from: conn.data.name, text });
      return { ok: true };
    });
    conn.on('typing', (room) => conn.to(room as string).emit('typing', conn.data.name, { volatile: true }));
    conn.on('close', (reason) => left.push(`${conn.data.name}: ${reason}`));
  });
}

async function start(left: string[] = []) {
  pair = await createTestPair<UnknownEvents, Name>({
    server: {
      authenticate: (_req, auth) => {
        const name = (auth as { name?: unknown } | undefined)?.name;
        return typeof name === 'string' ? { name } : null;
      },
      authorizeJoin: (_conn, room) => room.startsWith('chat:'),
    },
    client: { auth: { name: 'ann' } },
    setup: (tether) => chat(tether, left),
  });
}

it('acks a chat message and delivers it to the room; typing skips the typist', async () => {
  const left: string[] = [];
  await start(left);
  const ben = pair.newClient({ auth: { name: 'ben' } });
  const [annRoom, benRoom] = await Promise.all([pair.client.join('chat:1'), ben.join('chat:1')]);
  const annSaw: unknown[] = [];
  const benSaw: unknown[] = [];
  annRoom.on('chat', (m) => annSaw.push(m));
  annRoom.on('typing', (who) => annSaw.push(`typing ${who}`));
  benRoom.on('chat', (m) => benSaw.push(m));
  benRoom.on('typing', (who) => benSaw.push(`typing ${who}`));

  pair.client.emit('typing', 'chat:1', { volatile: true });
  await expect(
    pair.client.request('chat', { room: 'chat:1', text: 'hi' }, { timeout: 5000, retries: 3 }),
  ).resolves.toEqual({
    ok: true,
  });
  await fence(pair.tether.to('chat:1'), annRoom);
  await fence(pair.tether.to('chat:1'), benRoom);
  expect(annSaw).toEqual([{ from: 'ann', text: 'hi' }]);
  expect(benSaw).toEqual(['typing ann', { from: 'ann', text: 'hi' }]);

  ben.close();
  await waitFor(() => left.length === 1, 'the close listener');
  expect(left[0]).toMatch(/^ben: /);
});

it('refuses a client without a name, and a room outside chat:', async () => {
  await start();
  await expect(pair.client.join('admin')).rejects.toMatchObject({ code: 'JOIN_REFUSED' });
  const nameless = pair.newClient({ auth: {} });
  const error = await new Promise<{ code: string }>((resolve) => nameless.on('error', resolve));
  expect(error.code).toBe('UNAUTHORIZED');
  await waitFor(() => nameless.state === 'closed', 'the refused client to stop');
});
