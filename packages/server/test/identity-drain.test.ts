import type { IncomingMessage } from 'node:http';
import { TetherClient } from '@tether/client';
import { TcpProxy } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/index.js';
import { startNode, until, waitForState } from './harness.js';

// A drain move (`bye` with `mv: 1`, client handoff.ts) with credentials in the hello: the next
// connection carries fresh credentials in its hello like any connect, never in its URL.

const resources: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const release of resources.splice(0).reverse()) await release();
});

describe('drain move with credentials in the hello', () => {
  it('the next connection sends fresh credentials in its hello; the other node admits the same user', async () => {
    const seen: Array<{ node: string; url: string | undefined; auth: unknown }> = [];
    const authenticateOn = (node: string) => (req: IncomingMessage, auth: unknown) => {
      seen.push({ node, url: req.url, auth });
      const user = (auth as { user?: string } | undefined)?.user;
      return user ? { userId: user } : null;
    };
    const bus = new MemoryBus();
    resources.push(() => bus.close());
    const a = await startNode({ bus, authenticate: authenticateOn('a'), authorizeJoin: () => true });
    resources.push(() => a.close());
    const b = await startNode({ bus, authenticate: authenticateOn('b'), authorizeJoin: () => true });
    resources.push(() => b.close());
    const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: a.port } });
    resources.push(() => proxy.close());
    let calls = 0;
    const client = new TetherClient(proxy.url('/tether'), {
      transports: ['websocket'],
      reconnect: { initialDelay: 20, maxDelay: 80 },
      auth: () => ({ user: 'ann', n: ++calls }),
    });
    resources.push(() => client.close());
    const received: number[] = [];
    const room = await client.join('orders');
    room.on('n', (d) => received.push(d as number));
    expect(a.tether.connections.size).toBe(1);

    // The load balancer sends new connections to either node; the draining one refuses (503).
    proxy.setTargets([
      { host: '127.0.0.1', port: a.port },
      { host: '127.0.0.1', port: b.port },
    ]);
    await a.tether.close({ drainMs: 500 });
    await until(() => b.tether.connections.size === 1, 5_000, 'the client on the other node');
    await waitForState(client, 'open');
    await b.tether.to('orders').emit('n', 1);
    await until(() => received.length === 1, 3_000, 'a message after the move');

    const onB = seen.filter((s) => s.node === 'b');
    expect(onB.length).toBeGreaterThanOrEqual(1);
    // Called again for the move: fresh credentials, in the hello.
    expect(onB.at(-1)!.auth).toMatchObject({ user: 'ann' });
    expect((onB.at(-1)!.auth as { n: number }).n).toBeGreaterThan(1);
    for (const s of seen) expect(s.url).not.toMatch(/[?&]auth=/);
    const [conn] = [...b.tether.connections.values()];
    expect(conn!.data).toEqual({ userId: 'ann' });
    expect(received).toEqual([1]);
  });
});
