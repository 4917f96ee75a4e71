import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HandleTracker, trackHandles } from './leak-check.js';
import { redisCli } from './redis-cli.js';
import { RedisServer, RedisStartError } from './redis-server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let handles: HandleTracker;
beforeAll(() => {
  handles = trackHandles();
});
afterAll(() => handles.check());

async function startRedis(): Promise<RedisServer> {
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  return redis;
}

/** Whether a process with this pid exists (our own children are reaped as soon as they exit). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('RedisServer', () => {
  it('starts on a free port and answers PING', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.pid).toBeTypeOf('number');
    expect(await redisCli(redis.port, ['ping'])).toBe('PONG');
  });

  it('restarts on the same port with empty data after a kill', async () => {
    const redis = await startRedis();
    await redisCli(redis.port, ['set', 'key', 'value']);
    const firstPid = redis.pid!;

    await redis.kill();
    expect(redis.running).toBe(false);
    expect(redis.pid).toBeUndefined();
    expect(alive(firstPid)).toBe(false);
    await expect(redisCli(redis.port, ['ping'], { timeout: 2000 })).rejects.toThrow();

    await redis.restart();
    expect(redis.pid).not.toBe(firstPid);
    expect(await redisCli(redis.port, ['ping'])).toBe('PONG');
    expect(await redisCli(redis.port, ['get', 'key'])).toBe('');
  });

  it('stop() ends the process and is safe to repeat', async () => {
    const redis = await RedisServer.start();
    const pid = redis.pid!;
    await redis.stop();
    await redis.stop();
    expect(alive(pid)).toBe(false);
  });

  it('reports a failed start with the server output', async () => {
    const failure = RedisServer.start({ args: ['--no-such-option', 'x'] });
    await expect(failure).rejects.toBeInstanceOf(RedisStartError);
    await expect(failure).rejects.toMatchObject({ code: 'REDIS_EXITED' });
    await expect(failure).rejects.toThrow(/no-such-option/);
  });

  it('reports a taken port as REDIS_ADDRESS_IN_USE', async () => {
    const redis = await startRedis();
    await expect(RedisServer.start({ port: redis.port })).rejects.toMatchObject({
      code: 'REDIS_ADDRESS_IN_USE',
    });
  });
});
