import { TetherClient } from '@tether/client';
import { waitFor } from '@tether/test-utils';
import { FaultProxy } from '@tether/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, MemoryBus, type UndeliveredMessage } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

// A server push (`conn.request`) does not follow its session to another node. When it is given
// up, `undelivered` says whether the user is online on another node (the client most likely moved
// there) instead of a bare timeout.

const nodes: TestNode[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const node of nodes.splice(0)) await node.close();
});

const auth = { authenticate: (_req: unknown, given: unknown) => given as { userId: string } };

describe('undelivered server pushes', () => {
  it("say 'online-elsewhere' when the user is connected on another node, 'timeout' when not", async () => {
    const bus = new MemoryBus();
    const a = await startNode({ bus, ...auth });
    const b = await startNode({ bus, ...auth });
    nodes.push(a, b);
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: a.port });
    closers.push(() => proxy.close());
    let onA: Connection | undefined;
    a.tether.on('connection', (conn) => {
      onA = conn;
    });
    const undelivered: UndeliveredMessage[] = [];
    a.tether.on('undelivered', (m) => void undelivered.push(m as UndeliveredMessage));

    // The user's first tab reaches A through a proxy; its second tab is on B.
    const first = new TetherClient(proxy.url('/tether'), { auth: { userId: 'u' } });
    closers.push(() => first.close());
    first.on('error', () => {});
    await waitForState(first, 'open');
    const second = b.client({ auth: { userId: 'u' } });
    await waitForState(second, 'open');
    await waitFor(async () => (await bus.members('tether:user:u')).length === 2, { timeout: 5_000 });

    // The first tab's network goes away: A keeps its session (a drop, not a close).
    proxy.refuse();
    proxy.cut();
    await until(() => a.tether.connections.size === 0, 5_000, 'the drop on A');

    const moved = await onA!.request('confirm', { n: 1 }, { timeout: 50, retries: 0 }).catch((e) => e);
    expect((moved as { code?: string }).code).toBe('TIMEOUT');
    expect(undelivered.map((m) => m.reason)).toEqual(['online-elsewhere']);

    // With no connection of the user anywhere, it is a plain timeout.
    second.close();
    await waitFor(async () => (await bus.members('tether:user:u')).length === 0, { timeout: 5_000 });
    await onA!.request('confirm', { n: 2 }, { timeout: 50, retries: 0 }).catch(() => {});
    expect(undelivered.map((m) => m.reason)).toEqual(['online-elsewhere', 'timeout']);
  });
});
