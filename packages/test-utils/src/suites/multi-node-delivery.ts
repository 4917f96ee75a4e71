import type { Bus } from '@tether/server';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '../deferred.js';
import { TcpProxy } from '../tcp-proxy.js';
import { startTestNode, type TestNode, type TetherKit, until, waitForState } from '../tether-node.js';

/** A fresh bus for one test (shared by its nodes, or one per node over the same backend), and its cleanup. */
export type MakeSharedBus = () => Promise<{ bus: Bus; cleanup(): Promise<void> }>;

/**
 * Delivery guarantees when a client comes back on another node. Runs on any bus: the server
 * package runs it on one MemoryBus shared in-process, the redis-bus package on Redis.
 *
 * @example
 * ```ts
 * multiNodeDelivery('MemoryBus', kit, async () => {
 *   const bus = new MemoryBus();
 *   return { bus, cleanup: () => bus.close() };
 * });
 * ```
 */
export function multiNodeDelivery(name: string, kit: TetherKit, makeBus: MakeSharedBus): void {
  describe(`delivery across nodes (${name})`, () => {
    const resources: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const release of resources.splice(0).reverse()) await release();
    });

    async function twoNodes() {
      const { bus, cleanup } = await makeBus();
      resources.push(cleanup);
      const nodes: TestNode[] = [];
      for (let i = 0; i < 2; i++) {
        const node = await startTestNode(kit, { bus, authorizeJoin: () => true });
        resources.push(() => node.close());
        nodes.push(node);
      }
      const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: nodes[0]!.port } });
      resources.push(() => proxy.close());
      const client = new kit.TetherClient(proxy.url('/tether'), {
        transports: ['websocket'],
        reconnect: { initialDelay: 20, maxDelay: 100 },
      });
      resources.push(() => client.close());
      return { nodes: nodes as [TestNode, TestNode], proxy, client };
    }

    it('runs a request once when its retry lands on another node while the first run is in progress', async () => {
      const { nodes, proxy, client } = await twoNodes();
      let runs = 0;
      const started = deferred();
      const release = deferred();
      resources.push(() => release.resolve());
      for (const node of nodes) {
        node.tether.on('connection', (conn) => {
          conn.on('charge', async (amount) => {
            runs++;
            started.resolve();
            await release.promise; // the first run stays in progress until the retry has landed
            return { charged: amount };
          });
          conn.on('fence', () => 'ok');
        });
      }
      await waitForState(client, 'open');
      const sessionId = client.sessionId;
      const reply = client.request('charge', 42, { timeout: 5_000 });
      await started.promise;
      proxy.setTarget({ host: '127.0.0.1', port: nodes[1].port });
      proxy.cut();
      await until(() => nodes[1].tether.connections.size === 1, 3_000, 'the client on the second node');
      await waitForState(client, 'open');
      // Sent after the retry on the same socket: once it is answered, node 2 has the retry.
      await expect(client.request('fence', null, { timeout: 3_000 })).resolves.toBe('ok');
      expect(runs).toBe(1);
      release.resolve();
      await expect(reply).resolves.toEqual({ charged: 42 });
      expect(runs).toBe(1);
      expect(client.sessionId).toBe(sessionId);
      expect(nodes[1].tether.connections.size).toBe(1);
    });

    it('recovers room messages published while the client moved to another node', async () => {
      const { nodes, proxy, client } = await twoNodes();
      const room = await client.join('orders');
      const got: number[] = [];
      room.on('n', (d) => got.push(d as number));
      await nodes[0].tether.to('orders').emit('n', 1);
      await until(() => got.length === 1, 2_000, 'first');
      proxy.pause();
      await waitForState(client, 'reconnecting');
      await nodes[0].tether.to('orders').emit('n', 2);
      await nodes[1].tether.to('orders').emit('n', 3);
      proxy.setTarget({ host: '127.0.0.1', port: nodes[1].port });
      proxy.resume();
      await waitForState(client, 'open');
      await nodes[0].tether.to('orders').emit('n', 4);
      await until(() => got.length === 4, 3_000, 'all four');
      expect(got).toEqual([1, 2, 3, 4]);
      expect(nodes[1].tether.connections.size).toBe(1);
    });
  });
}
