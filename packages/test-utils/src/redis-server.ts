import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit, spawnReaped } from './child-reaper.js';
import { freePort } from './free-port.js';

/**
 * Options of {@link RedisServer.start}.
 *
 * @example
 * ```ts
 * const options: RedisServerOptions = { args: ['--maxmemory', '8mb'], startTimeout: 5000 };
 * ```
 */
export interface RedisServerOptions {
  /** Port to listen on. Default: a free one, retried if another process grabs it first. */
  port?: number;
  /** Extra `redis-server` arguments, appended after the harness's own. */
  args?: readonly string[];
  /**
   * Working directory owned by the caller: kept across {@link RedisServer.restart} and not removed
   * by {@link RedisServer.stop}. Default: a fresh temporary folder per run, removed on stop.
   */
  dir?: string;
  /** Milliseconds to wait for "Ready to accept connections". Default 10000. */
  startTimeout?: number;
  /** The program to run. Default `redis-server` from PATH. */
  bin?: string;
}

/**
 * Stable codes of {@link RedisStartError}.
 *
 * @example
 * ```ts
 * const retryable = (code: RedisStartErrorCode) => code === 'REDIS_ADDRESS_IN_USE';
 * ```
 */
export type RedisStartErrorCode =
  | 'REDIS_ADDRESS_IN_USE'
  | 'REDIS_EXITED'
  | 'REDIS_START_TIMEOUT'
  | 'REDIS_SPAWN_FAILED';

/**
 * `redis-server` did not become ready. `output` holds what it printed, which usually says why.
 *
 * @example
 * ```ts
 * try { await RedisServer.start({ port }); }
 * catch (e) { if (e instanceof RedisStartError && e.code === 'REDIS_ADDRESS_IN_USE') retry(); }
 * ```
 */
export class RedisStartError extends Error {
  override readonly name = 'RedisStartError';
  constructor(
    readonly code: RedisStartErrorCode,
    message: string,
    readonly output: string,
    options?: ErrorOptions,
  ) {
    super(`${message}\n--- redis-server output ---\n${output.trim() || '(none)'}`, options);
  }
}

const READY = /ready to accept connections/i;
const ADDRESS_IN_USE = /address already in use/i;
// Enough for every startup message; older lines of a long-lived server are not worth keeping.
const MAX_OUTPUT = 64 * 1024;
const STOP_GRACE_MS = 3000;

/**
 * A real `redis-server` for one test suite, on 127.0.0.1, persisting nothing, that a test can
 * crash and bring back on the same port.
 *
 * Every child is killed if this process ends without calling {@link RedisServer.stop}.
 *
 * @example
 * ```ts
 * const redis = await RedisServer.start();
 * const bus = new RedisBus({ url: redis.url });
 * await redis.kill();     // crash
 * await redis.restart();  // same port, empty data
 * await redis.stop();
 * ```
 */
export class RedisServer {
  readonly host = '127.0.0.1';
  readonly port: number;
  #options: RedisServerOptions;
  #dir: string | undefined;
  #forgetDir: (() => void) | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  private constructor(port: number, options: RedisServerOptions) {
    this.port = port;
    this.#options = options;
  }

  /**
   * Starts `redis-server` and resolves once it accepts connections.
   *
   * @throws {@link RedisStartError} with the server's output if it exits or is not ready in time.
   * @example
   * ```ts
   * const redis = await RedisServer.start({ args: ['--notify-keyspace-events', 'KEA'] });
   * ```
   */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    // Only a port we picked may be swapped for another when someone takes it first.
    const attempts = options.port === undefined ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(options.port ?? (await freePort()), options);
      try {
        await server.#launch();
        return server;
      } catch (error) {
        await server.stop();
        const retry = error instanceof RedisStartError && error.code === 'REDIS_ADDRESS_IN_USE';
        if (!retry || attempt >= attempts) throw error;
      }
    }
  }

  /**
   * `redis://127.0.0.1:PORT`.
   *
   * @example
   * ```ts
   * new Redis(redis.url);
   * ```
   */
  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /**
   * Process id of the running server, `undefined` while it is down.
   *
   * @example
   * ```ts
   * process.kill(redis.pid!, 'SIGSTOP'); // freeze it
   * ```
   */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  /**
   * Whether the server process is alive.
   *
   * @example
   * ```ts
   * await redis.kill();
   * expect(redis.running).toBe(false);
   * ```
   */
  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /**
   * The last 64 KiB the server printed (its log), for failure messages.
   *
   * @example
   * ```ts
   * console.log(redis.output);
   * ```
   */
  get output(): string {
    return this.#output;
  }

  /**
   * Stops the server (SIGTERM, then SIGKILL if it lingers) and removes its temporary folder.
   * Safe to call twice.
   *
   * @example
   * ```ts
   * afterAll(() => redis.stop());
   * ```
   */
  async stop(): Promise<void> {
    await this.#terminate('SIGTERM');
    await this.#dropDir();
  }

  /**
   * Kills the server with SIGKILL, as a crash would: no goodbye to clients, sockets reset.
   *
   * @example
   * ```ts
   * await redis.kill();
   * await waitFor(() => bus.status === 'reconnecting');
   * ```
   */
  async kill(): Promise<void> {
    await this.#terminate('SIGKILL');
  }

  /**
   * Starts the server again on the same port with empty data, as after the crash of a server that
   * keeps nothing. A server still running is killed first. A caller-owned `dir` is kept (a cluster
   * node needs its `nodes.conf` to rejoin).
   *
   * @example
   * ```ts
   * await redis.kill();
   * await redis.restart();
   * ```
   */
  async restart(): Promise<void> {
    await this.#terminate('SIGKILL');
    await this.#dropDir();
    await this.#launch();
  }

  async #launch(): Promise<void> {
    const { args = [], dir, startTimeout = 10_000, bin = 'redis-server' } = this.#options;
    if (dir !== undefined) await mkdir(dir, { recursive: true });
    if (this.#dir === undefined) {
      this.#dir = dir ?? (await mkdtemp(join(tmpdir(), 'tether-redis-')));
      if (dir === undefined) this.#forgetDir = removeOnExit(this.#dir);
    }
    const workDir = this.#dir;
    const fullArgs = [
      '--port',
      String(this.port),
      '--bind',
      this.host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--dir',
      workDir,
      ...args,
    ];
    this.#output = '';
    const child = spawnReaped(bin, fullArgs, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const record = (chunk: string) => {
      this.#output = (this.#output + chunk).slice(-MAX_OUTPUT);
    };
    // Keep reading after startup too: a full pipe would block the server on its next log line.
    child.stdout?.setEncoding('utf8').on('data', record);
    child.stderr?.setEncoding('utf8').on('data', record);

    await new Promise<void>((resolve, reject) => {
      const fail = (code: RedisStartErrorCode, message: string, cause?: unknown) => {
        cleanup();
        reject(new RedisStartError(code, message, this.#output, { cause }));
      };
      const onData = () => {
        if (READY.test(this.#output)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        const inUse = ADDRESS_IN_USE.test(this.#output);
        fail(
          inUse ? 'REDIS_ADDRESS_IN_USE' : 'REDIS_EXITED',
          `redis-server on port ${this.port} exited with ${how} before it was ready`,
        );
      };
      const onError = (error: Error) =>
        fail('REDIS_SPAWN_FAILED', `could not run ${bin}: ${error.message}`, error);
      const timer = setTimeout(
        () =>
          fail('REDIS_START_TIMEOUT', `redis-server on port ${this.port} not ready after ${startTimeout} ms`),
        startTimeout,
      );
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('close', onExit);
        child.off('error', onError);
      };
      child.stdout?.on('data', onData);
      // 'close', not 'exit': it waits for the pipes to drain, so the output says why it stopped.
      child.once('close', onExit);
      child.once('error', onError);
    }).catch(async (error: unknown) => {
      await this.#terminate('SIGKILL');
      throw error;
    });

    // A forgotten server must not keep the test process alive; the reaper kills it at exit.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) {
      if (stream && 'unref' in stream && typeof stream.unref === 'function') stream.unref();
    }
  }

  async #terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    if (this.running) {
      // Unreferenced after startup; without this the process could exit while we wait here.
      child.ref();
      child.kill(signal);
      const escalate =
        signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(escalate);
    } else {
      await this.#exited;
    }
    // The pipes can outlive the process by a tick; close them so no handle is left open.
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  async #dropDir(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    if (dir === undefined || this.#options.dir !== undefined) return;
    await rm(dir, { recursive: true, force: true });
    this.#forgetDir?.();
    this.#forgetDir = undefined;
  }
}
