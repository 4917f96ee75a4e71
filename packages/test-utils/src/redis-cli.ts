import { execFile } from 'node:child_process';

/**
 * Options of {@link redisCli}.
 *
 * @example
 * ```ts
 * await redisCli(port, ['debug', 'sleep', '1'], { timeout: 3000 });
 * ```
 */
export interface RedisCliOptions {
  host?: string;
  /** Kill `redis-cli` after this many milliseconds. Default 10000. */
  timeout?: number;
}

/**
 * Runs `redis-cli -h HOST -p PORT ...args` and resolves to its stdout without the final newline.
 * Talking to Redis through its own CLI keeps the harness free of a client library, so a bug in the
 * client under test cannot hide a bug in the harness.
 *
 * Note that `redis-cli` exits 0 on a Redis error reply: check the text when it matters.
 *
 * @example
 * ```ts
 * expect(await redisCli(redis.port, ['ping'])).toBe('PONG');
 * ```
 */
export function redisCli(
  port: number,
  args: readonly string[],
  options: RedisCliOptions = {},
): Promise<string> {
  return runRedisCli(['-h', options.host ?? '127.0.0.1', '-p', String(port), ...args], options.timeout);
}

/**
 * Runs `redis-cli` with raw arguments (for `--cluster` commands, which take addresses instead).
 *
 * @example
 * ```ts
 * await runRedisCli(['--cluster', 'check', '127.0.0.1:7000']);
 * ```
 */
export function runRedisCli(args: readonly string[], timeout = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', [...args], { timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const output = `${stdout}${stderr}`.trim();
        reject(
          new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${output}`, { cause: error }),
        );
        return;
      }
      resolve(stdout.replace(/\r?\n$/, ''));
    });
  });
}
