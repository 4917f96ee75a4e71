import { afterEach, describe, expect, it } from 'vitest';
import { TetherError } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

let node: TestNode;
afterEach(async () => {
  await node?.close();
});

describe('request/reply and events over a real WebSocket', () => {
  it('answers a request with the handler result', async () => {
    node = await startNode();
    node.tether.on('connection', (conn) => {
      conn.on('add', (d) => {
        const { a, b } = d as { a: number; b: number };
        return a + b;
      });
    });
    const client = node.client();
    await expect(client.request('add', { a: 2, b: 3 })).resolves.toBe(5);
    expect(client.state).toBe('open');
    expect(client.transport).toBe('websocket');
  });

  it('rejects at once with the handler error, never by timeout', async () => {
    node = await startNode();
    let runs = 0;
    node.tether.on('connection', (conn) => {
      conn.on('boom', () => {
        runs++;
        throw new Error('kaboom');
      });
    });
    const client = node.client();
    // Timeouts far past the test's own: a rejection by timeout could not come in time.
    const err = await rejectionOf(client.request('boom', {}, { timeout: 60_000, retries: 3 }));
    expect(err).toBeInstanceOf(TetherError);
    expect(err.code).toBe('HANDLER_ERROR');
    // Not a TetherError: the client gets a generic message, never the thrown one.
    expect(err.message).not.toContain('kaboom');
    expect(runs).toBe(1);
  });

  it('answers INTERNAL at once when the reply cannot be encoded, and the connection goes on', async () => {
    node = await startNode();
    node.tether.on('connection', (conn) => {
      conn.on('big', () => ({ n: 10n }));
      conn.on('ok', () => 'fine');
    });
    const client = node.client();
    const err = await rejectionOf(client.request('big', {}, { timeout: 60_000 }));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('the reply could not be encoded');
    await expect(client.request('ok', {})).resolves.toBe('fine');
    expect(client.state).toBe('open');
  });

  it('emits both ways', async () => {
    node = await startNode();
    const seen: unknown[] = [];
    node.tether.on('connection', (conn) => {
      conn.on('hello', (d) => {
        seen.push(d);
        conn.emit('welcome', { back: d });
      });
    });
    const client = node.client();
    const got = new Promise((resolve) => client.on('welcome', resolve));
    client.emit('hello', { n: 1 });
    await expect(got).resolves.toEqual({ back: { n: 1 } });
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('fires connection before the first message and close when the client closes', async () => {
    node = await startNode();
    const closed: string[] = [];
    node.tether.on('connection', (conn) => {
      conn.on('ping', () => 'pong');
      conn.on('close', (reason) => closed.push(reason));
    });
    const client = node.client({ autoConnect: false });
    client.emit('early', 1); // buffered while not connected
    client.connect();
    await expect(client.request('ping')).resolves.toBe('pong');
    client.close();
    expect(client.state).toBe('closed');
    await until(() => closed.length === 1, 3_000, 'server close event');
    expect(closed).toEqual(['client closed']);
  });
});

describe('rooms', () => {
  it('delivers to members only, excluding the sender on conn.to()', async () => {
    node = await startNode({ authorizeJoin: (_conn, room) => room.startsWith('chat:') });
    node.tether.on('connection', (conn) => {
      conn.on('say', async (text) => {
        await conn.to('chat:1').emit('said', text);
        return true;
      });
    });
    const [a, b, outsider] = [node.client(), node.client(), node.client()];
    const roomA = await a.join('chat:1');
    const roomB = await b.join('chat:1');
    await waitForState(outsider, 'open');
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    const gotOutsider: unknown[] = [];
    roomA.on('said', (d) => gotA.push(d));
    roomB.on('said', (d, meta) => gotB.push([d, meta.offset]));
    outsider.on('said', (d) => gotOutsider.push(d));
    await a.request('say', 'hi');
    await node.tether.to('chat:1').emit('said', 'from server');
    await until(() => gotB.length === 2, 3_000, 'b to get both');
    await until(() => gotA.length === 1, 3_000, 'a to get the server message');
    expect(gotB).toEqual([
      ['hi', 1],
      ['from server', 2],
    ]);
    expect(gotA).toEqual(['from server']);
    expect(gotOutsider).toEqual([]);
  });

  it('refuses a client join that authorizeJoin refuses, with a clear error', async () => {
    node = await startNode();
    const client = node.client();
    const err = await rejectionOf(client.join('secret'));
    expect(err).toBeInstanceOf(TetherError);
    expect(err.code).toBe('JOIN_REFUSED');
  });

  it('delivers messages of server-side joined rooms to client.on', async () => {
    node = await startNode();
    node.tether.on('connection', (conn) => {
      void conn.join('user:7');
    });
    const client = node.client();
    const got: Array<[unknown, number | undefined]> = [];
    client.on('notify', (d, meta) => got.push([d, meta?.offset]));
    await waitForState(client, 'open');
    await until(() => node.tether.metrics().rooms === 1, 2_000, 'join');
    await node.tether.to('user:7').emit('notify', { n: 1 });
    await node.tether.to('user:7').emit('notify', { n: 2 });
    await until(() => got.length === 2, 2_000, 'notifications');
    expect(got).toEqual([
      [{ n: 1 }, 1],
      [{ n: 2 }, 2],
    ]);
  });
});

describe('room names on the client', () => {
  it('refuses an empty or overlong name locally with INVALID_ROOM and stays open', async () => {
    node = await startNode({ authorizeJoin: () => true });
    const client = node.client();
    expect((await rejectionOf(client.join(''))).code).toBe('INVALID_ROOM');
    expect((await rejectionOf(client.join('x'.repeat(257)))).code).toBe('INVALID_ROOM');
    const room = await client.join('fine');
    const got: unknown[] = [];
    room.on('hello', (d) => void got.push(d));
    await node.tether.to('fine').emit('hello', 1);
    await until(() => got.length === 1, 2_000, 'a message in the joined room');
    expect(got).toEqual([1]);
    expect(client.state).toBe('open');
  });
});
