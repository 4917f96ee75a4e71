// A throwaway redis-server on a free loopback port: --save '' --appendonly no; killed at the end.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { track } from './proc.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis({ timeoutMs = 10000 } = {}) {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
  ];
  // Through a tiny shell watchdog: when our end of its stdin closes (we exit, even by SIGKILL),
  // it kills redis-server, so no Redis outlives the benchmark.
  const script =
    'exec 3<&0; redis-server "$@" </dev/null & r=$!; (cat <&3 >/dev/null; kill $r 2>/dev/null) & exec 3<&-; wait $r';
  const p = track(spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  let redisPid = null;
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server not ready after ${timeoutMs} ms: ${log.slice(-300)}`)),
      timeoutMs,
    );
    const onData = (d) => {
      log += d;
      redisPid ??= Number(/pid=(\d+)/.exec(log)?.[1]) || null;
      if (/ready to accept connections/i.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start redis-server: ${err.message}`));
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${log.slice(-300)}`));
    });
  });
  p.stdout.resume();
  p.stderr.resume();
  const url = `redis://127.0.0.1:${port}`;
  return {
    url,
    port,
    get pid() {
      return redisPid ?? p.pid;
    },
    async flush() {
      const { Redis } = await import('ioredis');
      const r = new Redis(url, { maxRetriesPerRequest: 2 });
      try {
        await r.flushall();
      } finally {
        r.disconnect();
      }
    },
    async stop() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      const kill = (sig) => {
        try {
          if (redisPid) process.kill(redisPid, sig);
        } catch {}
      };
      p.stdin.end(); // the watchdog kills redis-server
      kill('SIGTERM');
      const t = setTimeout(() => {
        kill('SIGKILL');
        p.kill('SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
