import type { TetherClientOptions } from '@tether/client';
import type { Connection, TetherError, TetherServer, TetherServerOptions } from '@tether/server';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode, type TetherKit, until, waitForState } from '../tether-node.js';

/** A transport the client can be limited to. */
export type TransportKind = NonNullable<TetherClientOptions['transports']>[number];

/**
 * The integration tests every transport must pass, over real loopback sockets: the same client
 * API and server behaviour whatever carries the frames. Run once per transport.
 *
 * @example
 * ```ts
 * transportSuite('sse', { TetherServer, TetherClient, TetherError, CloseCode });
 * ```
 */
export function transportSuite(kind: TransportKind, kit: TetherKit): void {
  const { CloseCode } = kit;
  describe(`over ${kind}`, () => {
    const nodes: TestNode[] = [];
    afterEach(async () => {
      for (const node of nodes.splice(0)) await node.close();
    });

    async function start(options: TetherServerOptions = {}, port = 0) {
      const node = await startTestNode(kit, options, port);
      nodes.push(node);
      const client = (extra: TetherClientOptions = {}) => node.client({ transports: [kind], ...extra });
      return { node, tether: node.tether, client };
    }

    const onlyConnection = (tether: TetherServer): Connection => [...tether.connections.values()][0]!;

    it('answers a request with the handler result, on this transport', async () => {
      const { tether, client } = await start();
      const seen: string[] = [];
      tether.on('connection', (conn) => {
        seen.push(conn.transport);
        conn.on('add', (d) => {
          const { a, b } = d as { a: number; b: number };
          return a + b;
        });
      });
      const c = client();
      await expect(c.request('add', { a: 2, b: 3 })).resolves.toBe(5);
      expect(c.transport).toBe(kind);
      expect(seen).toEqual([kind]);
    });

    it('rejects at once with the handler error, never by timeout, and runs the handler once', async () => {
      const { tether, client } = await start();
      let runs = 0;
      tether.on('connection', (conn) =>
        conn.on('boom', () => {
          runs++;
          throw new Error('kaboom');
        }),
      );
      // Timeouts far past the test's own: a rejection by timeout could not come in time.
      const err = (await client()
        .request('boom', {}, { timeout: 60_000, retries: 3 })
        .catch((e: unknown) => e)) as TetherError;
      expect(err).toBeInstanceOf(kit.TetherError);
      expect(err.code).toBe('HANDLER_ERROR');
      // Not a TetherError: logged on the server, generic for the client.
      expect(err.message).not.toContain('kaboom');
      expect(runs).toBe(1);
    });

    it('emits both ways, and the server can request the client with an ack', async () => {
      const { tether, client } = await start();
      const seen: unknown[] = [];
      const answers: unknown[] = [];
      tether.on('connection', (conn) => {
        conn.on('hello', async (d) => {
          seen.push(d);
          conn.emit('welcome', { back: d });
          answers.push(await conn.request('confirm', { q: 1 }, { timeout: 2_000 }));
        });
      });
      const c = client();
      c.on('confirm', (d) => ({ confirmed: d }));
      const got = new Promise((resolve) => c.on('welcome', resolve));
      c.emit('hello', { n: 1 });
      await expect(got).resolves.toEqual({ back: { n: 1 } });
      await until(() => answers.length === 1, 3_000, 'the client ack');
      expect(seen).toEqual([{ n: 1 }]);
      expect(answers).toEqual([{ confirmed: { q: 1 } }]);
    });

    it('keeps many quick messages in order', async () => {
      const { tether, client } = await start();
      const seen: number[] = [];
      tether.on('connection', (conn) => conn.on('n', (d) => void seen.push(d as number)));
      const c = client();
      await waitForState(c, 'open');
      for (let i = 0; i < 200; i++) c.emit('n', i);
      await expect(c.request('n', 200)).resolves.toBeUndefined();
      await until(() => seen.length === 201, 3_000, 'every emit');
      expect(seen).toEqual(Array.from({ length: 201 }, (_, i) => i));
    });

    it('delivers room messages to members only, excluding the sender on conn.to()', async () => {
      const { tether, client } = await start({ authorizeJoin: (_conn, room) => room.startsWith('chat:') });
      tether.on('connection', (conn) => {
        conn.on('say', async (text) => {
          await conn.to('chat:1').emit('said', text);
          return true;
        });
      });
      const [a, b, outsider] = [client(), client(), client()];
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
      await tether.to('chat:1').emit('said', 'from server');
      await until(() => gotB.length === 2, 3_000, 'b to get both');
      await until(() => gotA.length === 1, 3_000, 'a to get the server message');
      expect(gotB).toEqual([
        ['hi', 1],
        ['from server', 2],
      ]);
      expect(gotA).toEqual(['from server']);
      expect(gotOutsider).toEqual([]);
    });

    it('delivers messages of rooms joined server-side to client.on', async () => {
      const { tether, client } = await start();
      tether.on('connection', (conn) => void conn.join('user:7'));
      const c = client();
      const got: Array<[unknown, number | undefined]> = [];
      c.on('notify', (d, meta) => void got.push([d, meta?.offset]));
      await waitForState(c, 'open');
      await until(() => tether.metrics().rooms === 1, 2_000, 'the join');
      await tether.to('user:7').emit('notify', { n: 1 });
      await tether.to('user:7').emit('notify', { n: 2 });
      await until(() => got.length === 2, 2_000, 'notifications');
      expect(got).toEqual([
        [{ n: 1 }, 1],
        [{ n: 2 }, 2],
      ]);
    });

    it('refuses a join that authorizeJoin refuses, with a clear error', async () => {
      const { client } = await start();
      const err = await client()
        .join('secret')
        .catch((e) => e);
      expect(err).toBeInstanceOf(kit.TetherError);
      expect(err.code).toBe('JOIN_REFUSED');
    });

    it('reconnects after the server drops the connection: rooms rejoined, missed messages recovered in order, once', async () => {
      const { tether, client } = await start({ authorizeJoin: () => true });
      tether.on('connection', (conn) => void conn.join('user:1'));
      const c = client();
      const room = await c.join('feed');
      const got: number[] = [];
      const direct: number[] = [];
      room.on('item', (d) => got.push(d as number));
      c.on('note', (d) => void direct.push(d as number));
      await until(() => tether.metrics().rooms === 2, 2_000, 'both joins');
      await tether.to('feed').emit('item', 1);
      await tether.to('user:1').emit('note', 1);
      await until(() => got.length === 1 && direct.length === 1, 2_000, 'first messages');
      const states: string[] = [];
      c.on('state', (s) => void states.push(s));
      const sessionBefore = c.sessionId;
      onlyConnection(tether).close(CloseCode.InternalError, 'test drop');
      await waitForState(c, 'reconnecting');
      // Published while the client is away: they must arrive after the rejoin, in order, once.
      await tether.to('feed').emit('item', 2);
      await tether.to('feed').emit('item', 3);
      await tether.to('user:1').emit('note', 2);
      await waitForState(c, 'open');
      await tether.to('feed').emit('item', 4);
      await until(() => got.length === 4 && direct.length === 2, 3_000, 'every message');
      expect(got).toEqual([1, 2, 3, 4]);
      expect(direct).toEqual([1, 2]);
      expect(c.sessionId).toBe(sessionBefore);
      expect(c.transport).toBe(kind);
      expect(states).toEqual(['reconnecting', 'open']);
      expect(room.recovered).toBe(true);
    });

    it("fires the server's close when the client closes", async () => {
      const { tether, client } = await start();
      const closed: string[] = [];
      tether.on('connection', (conn) => {
        conn.on('ping', () => 'pong');
        conn.on('close', (reason) => closed.push(reason));
      });
      const c = client({ autoConnect: false });
      c.emit('early', 1); // buffered while not connected
      c.connect();
      await expect(c.request('ping')).resolves.toBe('pong');
      c.close();
      expect(c.state).toBe('closed');
      await until(() => closed.length === 1, 3_000, 'the server-side close');
      expect(closed).toEqual(['client closed']);
      expect(tether.connections.size).toBe(0);
    });

    it('stays open across many heartbeat periods (the client answers pings)', async () => {
      // A client that did not answer would be dropped 240 ms after a ping; it must live through 15.
      // The timeout leaves room for a POST round trip on a loaded machine.
      const { tether, client } = await start({ heartbeat: { intervalMs: 40, timeoutMs: 200 } });
      const reasons: string[] = [];
      tether.on('connection', (conn) => conn.on('close', (reason) => reasons.push(reason)));
      const c = client();
      await waitForState(c, 'open');
      const states: string[] = [];
      c.on('state', (s) => void states.push(s));
      // Nothing else is sent on this connection: every frame out from here on is a ping.
      const sentBefore = tether.metrics().messages.out;
      await until(() => tether.metrics().messages.out - sentBefore >= 15, 5_000, '15 pings');
      expect(states).toEqual([]);
      expect(reasons).toEqual([]);
      expect(tether.connections.size).toBe(1);
    });

    it('comes back after tether.close() tells it to reconnect elsewhere', async () => {
      const { node, client } = await start({ reconnectSpreadMs: 100 });
      const c = client();
      await waitForState(c, 'open');
      const errors: string[] = [];
      c.on('error', (e) => void errors.push(e.code));
      await node.tether.close();
      await waitForState(c, 'reconnecting', 3_000);
      // "Elsewhere" is a new server on the same address, as behind a load balancer.
      node.http.closeAllConnections();
      await new Promise<void>((resolve) => node.http.close(() => resolve()));
      const next = await start({}, node.port);
      next.tether.on('connection', (conn) => conn.on('echo', (d) => d));
      await waitForState(c, 'open', 5_000);
      await expect(c.request('echo', { back: true })).resolves.toEqual({ back: true });
      expect(next.tether.connections.size).toBe(1);
      expect(c.transport).toBe(kind);
      expect(errors).toEqual([]);
    });
  });
}
