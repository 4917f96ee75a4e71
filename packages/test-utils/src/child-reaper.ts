import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

// util-linux `setpriv --pdeathsig` makes the kernel kill the child when its parent dies, even by
// SIGKILL (a test runner killing a hung worker), which no exit hook can catch. It execs the real
// program, so the child's pid stays the program's own.
const SETPRIV = '/usr/bin/setpriv';
const canSetPdeathsig = process.platform === 'linux' && existsSync(SETPRIV);

/**
 * Spawns a child process that must not outlive this one: it is killed with SIGKILL when this
 * process exits, is stopped by SIGINT/SIGTERM/SIGHUP, or (on Linux) dies in any other way.
 *
 * @example
 * ```ts
 * const child = spawnReaped('redis-server', ['--port', '6390'], { stdio: 'ignore' });
 * ```
 */
export function spawnReaped(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = canSetPdeathsig
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, [...args], options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  // 'error' (spawn failed) may come without 'exit'.
  child.once('error', () => live.delete(child));
  installHooks();
  return child;
}

/**
 * How many children started by {@link spawnReaped} are still running. Such children are often
 * unreferenced, so `process.getActiveResourcesInfo()` does not list them.
 *
 * @example
 * ```ts
 * expect(liveChildCount()).toBe(0);
 * ```
 */
export function liveChildCount(): number {
  return live.size;
}

/**
 * Removes `dir` (recursively) when this process exits or is stopped by a signal, unless the
 * returned function is called first (after the owner removed it itself).
 *
 * @example
 * ```ts
 * const dir = await mkdtemp(join(tmpdir(), 'x-'));
 * const forget = removeOnExit(dir);
 * // ... later, on a clean stop:
 * await rm(dir, { recursive: true });
 * forget();
 * ```
 */
export function removeOnExit(dir: string): () => void {
  dirs.add(dir);
  installHooks();
  return () => {
    dirs.delete(dir);
  };
}

function cleanUp(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone: nothing left to clean.
    }
  }
  live.clear();
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a leftover temp folder is not worth failing an exit over.
    }
  }
  dirs.clear();
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanUp();
      // A listener replaces Node's default "die on signal"; when no one else listens, restore it
      // by re-raising, so the process still ends the way its sender meant.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
