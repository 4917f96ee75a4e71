import { TetherClient } from '@tether/client';
import { TcpProxy } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

/**
 * Delivery guarantees when a client comes back on another node. Runs on any bus: MemoryBus
 * shared in-process here; the redis-bus package runs the same function on Redis.
 */
export function multiNodeDelivery(
  name: string,
  makeBus: () => Promise<{ bus: Bus; cleanup(): Promise<void> }>,
) {
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
        const node = await startNode({ bus, authorizeJoin: () => true });
        resources.push(() => node.close());
        nodes.push(node);
      }
      const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: nodes[0]!.port } });
      resources.push(() => proxy.close());
      const client = new TetherClient(proxy.url('/tether'), {
        transports: ['websocket'],
        reconnect: { initialDelay: 20, maxDelay: 100 },
      });
      resources.push(() => client.close());
      return { nodes: nodes as [TestNode, TestNode], proxy, client };
    }

    it('runs a request once when its retry lands on another node while the first run is in progress', async () => {
      const { nodes, proxy, client } = await twoNodes();
      let runs = 0;
      for (const node of nodes) {
        node.tether.on('connection', (conn) =>
          conn.on('charge', async (amount) => {
            runs++;
            await new Promise((r) => setTimeout(r, 300));
            return { charged: amount };
          }),
        );
      }
      await waitForState(client, 'open');
      const sessionId = client.sessionId;
      const reply = client.request('charge', 42, { timeout: 5_000 });
      await until(() => runs === 1, 2_000, 'first run started');
      proxy.setTarget({ host: '127.0.0.1', port: nodes[1].port });
      proxy.cut();
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
