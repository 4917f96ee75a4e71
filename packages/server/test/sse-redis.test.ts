import { spawnSync } from 'node:child_process';
import { RedisServer } from '@tether/test-utils';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { twoNodesBehindRoundRobin } from './sse-helpers.js';

// The same no-sticky-sessions scenario as sse.test.ts, with POSTs forwarded over Redis.
// Skipped (with the reason in its title) when @tether/redis-bus or redis-server is missing.
const redisBus = await import('@tether/redis-bus').catch((err: Error) => err);
const skipReason =
  redisBus instanceof Error
    ? `@tether/redis-bus is not ready: ${redisBus.message}`
    : spawnSync('redis-server', ['--version']).status !== 0
      ? 'redis-server is not installed'
      : undefined;

describe.skipIf(skipReason !== undefined)(
  `SSE across nodes on RedisBus${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(() => redis?.stop());

    it('answers requests and delivers rooms when streams and POSTs land on different nodes', async () => {
      if (redisBus instanceof Error) return;
      const keyPrefix = `sse${Date.now().toString(36)}:`;
      const buses = [0, 1].map(() => new redisBus.RedisBus({ url: redis.url, keyPrefix }));
      await twoNodesBehindRoundRobin(
        (i) => buses[i]!,
        async () => {
          await Promise.all(buses.map((bus) => bus.close()));
        },
      );
    });
  },
);
