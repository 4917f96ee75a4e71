// Parent side: fork children, talk to them over IPC with timeouts, and make sure none outlives us.
import { fork, spawn } from 'node:child_process';

const live = new Set(); // every child process we started and that has not exited yet
let verbose = false;
export function setVerbose(v) {
  verbose = v;
}

export function killAll() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: killing ${live.size} child process(es)`);
    killAll();
    process.exit(130);
  });
}

/** Register a process spawned elsewhere (the redis-server watchdog) so it is killed with the rest. */
export function track(p) {
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

export class Child {
  constructor(script, { name, execArgv = [], env } = {}) {
    this.name = name ?? script;
    this.nextId = 1;
    this.pending = new Map();
    this.stderrTail = [];
    this.exitInfo = null;
    this.proc = fork(script, [], {
      execArgv,
      env: env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    track(this.proc);
    const keep = (chunk) => {
      const s = chunk.toString();
      if (verbose) process.stderr.write(s.replace(/^/gm, `  [${this.name}] `));
      for (const line of s.split('\n')) if (line.trim()) this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.ready = new Promise((resolve, reject) => {
      this._readyResolve = resolve;
      this._readyReject = reject;
    });
    this.proc.on('message', (msg) => {
      if (msg?.ready) return this._readyResolve();
      const p = this.pending.get(msg?.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${this.name}: ${msg.error}`));
    });
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        const why = new Error(
          `${this.name} exited (code ${code}, signal ${signal})${this.stderrTail.length ? `: ${this.stderrTail.slice(-5).join(' | ')}` : ''}`,
        );
        this.exitError = why;
        this._readyReject(why);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(why);
        }
        this.pending.clear();
        resolve(this.exitInfo);
      });
    });
    this.ready.catch(() => {});
  }

  async start(timeoutMs = 15000) {
    let timer;
    await Promise.race([
      this.ready,
      new Promise((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`${this.name} did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    return this;
  }

  call(cmd, args = {}, timeoutMs = 30000) {
    if (this.exitInfo) return Promise.reject(this.exitError ?? new Error(`${this.name} already exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: '${cmd}' timed out after ${timeoutMs} ms (child is killed)`));
        this.kill();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.proc.send({ id, cmd, args });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  kill() {
    if (!this.exitInfo) {
      try {
        this.proc.kill('SIGKILL');
      } catch {}
    }
  }

  /** Ask politely, then SIGKILL after graceMs. Always resolves. */
  async stop(graceMs = 3000) {
    if (this.exitInfo) return this.exitInfo;
    this.call('exit', {}, graceMs).catch(() => {});
    const t = setTimeout(() => this.kill(), graceMs);
    const info = await this.exited;
    clearTimeout(t);
    return info;
  }
}

export { spawn };
