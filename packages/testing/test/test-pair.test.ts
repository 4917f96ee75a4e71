import { createServer } from 'node:http';
import { trackHandles } from '@tether/test-utils';
import { createTestPair, type TestPair, waitFor, waitForState } from '@tether/testing';
import { afterEach, describe, expect, it } from 'vitest';

type Events = {
  'chat:send': { data: { text: string }; reply: { ok: boolean; id: number } };
  welcome: { data: { hi: number } };
};

let pair: TestPair<Events> | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe('createTestPair', () => {
  it('runs the handlers given in setup for a client that is open on return', async () => {
    let sent = 0;
    pair = await createTestPair<Events>({
      setup: (tether) =>
        tether.on('connection', (conn) =>
          conn.on('chat:send', ({ text }) => ({ ok: text === 'hi', id: ++sent })),
        ),
    });
    expect(pair.client.state).toBe('open');
    await expect(pair.client.request('chat:send', { text: 'hi' })).resolves.toEqual({ ok: true, id: 1 });
    expect(pair.url).toBe(pair.network.url('/tether'));
    expect(pair.network.connectionCount).toBe(1);
  });

  it('sends clients through the proxy unless direct, and finds the server side of each', async () => {
    pair = await createTestPair<Events>();
    const direct = pair.newClient({ direct: true });
    await waitForState(direct, 'open');
    expect(pair.clients).toEqual([pair.client, direct]);
    expect(pair.network.acceptedConnections).toBe(1);
    expect(pair.tether.connections.size).toBe(2);

    const got: number[] = [];
    direct.on('welcome', ({ hi }) => got.push(hi));
    pair.connectionOf(direct).emit('welcome', { hi: 7 });
    await waitFor(() => got.length === 1, 'the welcome');
    expect(got).toEqual([7]);
    expect(pair.connectionOf(pair.client).id).toBe(pair.client.connectionId);
  });

  it('serves the app handler beside the Tether path', async () => {
    pair = await createTestPair({ app: (_req, res) => res.end('app') });
    const res = await fetch(pair.network.url('/health-of-app'));
    expect(await res.text()).toBe('app');
  });

  it('without connect, has no first client until one is made', async () => {
    pair = await createTestPair({ connect: false });
    expect(() => pair?.client).toThrow(/connect: false/);
    const client = pair.newClient();
    await waitForState(client, 'open');
    expect(pair.client).toBe(client);
  });

  it('says which client has no server connection', async () => {
    pair = await createTestPair<Events>();
    const late = pair.newClient({ autoConnect: false });
    expect(() => pair?.connectionOf(late)).toThrow(
      /no open server connection for this client \(client state "/,
    );
  });

  it('leaves no socket, server or timer once closed, even after a fault', async () => {
    const handles = trackHandles();
    const own = await createTestPair({ server: { authorizeJoin: () => true } });
    const room = await own.client.join('r');
    await own.tether.to('r').emit('n', 1);
    own.newClient({ direct: true });
    own.network.cut();
    await waitForState(own.client, 'open');
    expect(room.state).not.toBe('left');
    await own.close();
    await own.close(); // twice is harmless
    expect(own.client.state).toBe('closed');
    await handles.check(2_000);
  });

  it('closes what it opened when setup throws', async () => {
    const handles = trackHandles();
    await expect(
      createTestPair({
        setup: () => {
          throw new Error('setup failed');
        },
      }),
    ).rejects.toThrow('setup failed');
    await handles.check(2_000);
  });
});

it('a pair does not disturb other servers of the process', async () => {
  const other = createServer((_req, res) => res.end('other'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  pair = await createTestPair();
  await pair.close();
  expect(other.listening).toBe(true);
  await new Promise<void>((resolve) => other.close(() => resolve()));
});
