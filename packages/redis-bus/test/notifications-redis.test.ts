/**
 * Durable notifications on a Redis-only deployment: two nodes, each with its own RedisBus and
 * RedisInbox on one real redis-server, clients over real sockets.
 */
import { TetherClient } from '@tether/client';
import { CloseCode, TetherError, TetherServer, type UndeliveredNotification } from '@tether/server';
import {
  RedisServer,
  startTestNode,
  type TestNode,
  type TetherKit,
  until,
  waitForState,
} from '@tether/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus, RedisInbox } from '../src/index.js';

const kit: TetherKit = { TetherServer, TetherClient, TetherError, CloseCode };

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startNode(
  keyPrefix: string,
): Promise<{ node: TestNode; inbox: RedisInbox; dead: UndeliveredNotification[] }> {
  const bus = new RedisBus({ url: redis.url, keyPrefix });
  const inbox = new RedisInbox({ url: redis.url, keyPrefix, sweepIntervalMs: 50 });
  const node = await startTestNode(kit, {
    bus,
    inbox,
    authenticate: (_req, auth) => auth as { userId: string },
    notifications: { maxAttempts: 2, ackTimeoutMs: 200, offlineAfterMs: 60_000 },
  });
  const dead: UndeliveredNotification[] = [];
  node.tether.on('undelivered', (m) => void dead.push(m as UndeliveredNotification));
  cleanups.push(async () => {
    await node.close();
    await inbox.close();
    await bus.close();
  });
  return { node, inbox, dead };
}

describe('notifications on RedisBus and RedisInbox', () => {
  it('delivers across nodes, keeps a backlog for a user who is away, and dead-letters once', async () => {
    const prefix = `t${Date.now().toString(36)}:`;
    const a = await startNode(prefix);
    const b = await startNode(prefix);
    await a.node.tether.user('u').notify('n', 1, { id: 'n-1' });
    await a.node.tether.user('u').notify('n', 2, { id: 'n-2' });
    const client = b.node.client({ auth: { userId: 'u' } });
    const got: unknown[] = [];
    let fail = false;
    client.on('error', () => {});
    client.on('n', (d) => {
      if (fail) throw new Error('broken');
      got.push(d);
    });
    await until(() => got.length === 2, 10_000, 'the backlog');
    await waitForState(client, 'open');
    await a.node.tether.user('u').notify('n', 3, { id: 'n-3' });
    await until(() => got.length === 3, 10_000, 'one notified on the other node');
    expect(got).toEqual([1, 2, 3]);

    fail = true;
    await a.node.tether.user('u').notify('n', 4, { id: 'n-4' });
    await until(() => a.dead.length + b.dead.length === 1, 10_000, 'the dead letter');
    expect([...a.dead, ...b.dead][0]).toMatchObject({ reason: 'dead-letter', id: 'n-4', attempts: 2 });
    expect((await a.node.tether.deadLetters.list({ userId: 'u' })).map((l) => l.id)).toEqual(['n-4']);
  });
});
