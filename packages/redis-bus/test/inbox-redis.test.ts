import { randomUUID } from 'node:crypto';
import { inboxContract, RedisServer, recordingListener, trackHandles, waitFor } from '@tether/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InboxKeys } from '../src/inbox-keys.js';
import { RedisInbox } from '../src/redis-inbox.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis?.stop());

const prefix = () => `t${randomUUID().slice(0, 8)}:`;

inboxContract('RedisInbox', async () => {
  // A key prefix per test: every inbox opened with it is another node on the same store.
  const keyPrefix = prefix();
  const open = async () =>
    new RedisInbox({ url: redis.url, keyPrefix, sweepIntervalMs: 50, dedupWindowMs: 60_000 });
  return { open, durable: true };
});

describe('RedisInbox', () => {
  it('uses only the keys listed in inbox-keys.ts', async () => {
    const keyPrefix = prefix();
    const inbox = new RedisInbox({ url: redis.url, keyPrefix, dedupWindowMs: 60_000 });
    const rec = recordingListener();
    const sub = await inbox.subscribe(rec.listener);
    try {
      await inbox.notify('u1', 'e', 1, { id: 'c', ttlMs: 1 });
      await waitFor(() => rec.expired.length === 1, {
        message: () => JSON.stringify(rec.errors.map(String)),
      });
      await inbox.notify('u1', 'e', [], { id: 'a', collapseKey: 'k' });
      await inbox.notify('u1', 'e', 1, { id: 'b' });
      await inbox.claim('u1', { maxAttempts: 1, retryAfterMs: 0 });
      await inbox.claim('u1', { maxAttempts: 1, retryAfterMs: 0 });
      await inbox.notify('u1', 'e', 1, { id: 'd' });
      await inbox.ack('u1', ['d']);
      await inbox.notify('u1', 'e', 1, { id: 'f', collapseKey: 'k2' });
      expect((await inbox.deadLetters({ userId: 'u1' })).map((d) => d.id)).toEqual(['a', 'b']);
      // Data is returned as stored: an empty array stays an array.
      expect((await inbox.deadLetters({ userId: 'u1' }))[0]?.data).toEqual([]);
      const keys = new InboxKeys(keyPrefix);
      const known = new Set([
        keys.seq,
        keys.meta,
        keys.data,
        keys.user('u1'),
        keys.collapse('u1'),
        keys.expiry,
        keys.offline,
        keys.remembered,
        keys.dead,
        keys.deadByTime,
        keys.deadByForget,
        keys.deadOfUser('u1'),
      ]);
      const client = new Redis(redis.url);
      const present = await client.keys(`${keyPrefix}*`);
      await client.quit();
      expect(present.length).toBeGreaterThan(5);
      expect(present.filter((key) => !known.has(key))).toEqual([]);
    } finally {
      await sub.unsubscribe();
      await inbox.close();
    }
  });

  it('leaves no socket or timer behind after close, even while subscribed', async () => {
    const handles = trackHandles();
    const inbox = new RedisInbox({ url: redis.url, keyPrefix: prefix(), sweepIntervalMs: 50 });
    await inbox.subscribe({ onStored: () => undefined });
    await inbox.notify('u', 'e', 1);
    await inbox.close();
    await handles.check(5000);
  });

  it('subscribes again after its connection is killed and asks for a resync', async () => {
    const keyPrefix = prefix();
    const node = new RedisInbox({ url: redis.url, keyPrefix });
    const other = new RedisInbox({ url: redis.url, keyPrefix });
    let resyncs = 0;
    const rec = recordingListener();
    const sub = await node.subscribe({ ...rec.listener, onResync: () => (resyncs += 1) });
    try {
      const admin = new Redis(redis.url);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await admin.quit();
      await waitFor(() => resyncs === 1, { timeout: 10_000 });
      // ioredis re-subscribes before 'ready'; keep notifying until a wakeup arrives.
      await waitFor(
        async () => {
          await other.notify('after-kill', 'e', 1);
          return rec.stored.includes('after-kill');
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      await sub.unsubscribe();
      await node.close();
      await other.close();
    }
  });
});
