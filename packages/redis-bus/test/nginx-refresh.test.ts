import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TetherClient } from '@tether/client';
import { withExpiry } from '@tether/server';
import {
  freePort,
  RedisServer,
  startTestNode,
  type TestNode,
  waitFor,
  waitForState,
} from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { findNginx, nginxConfig } from '../../../examples/nginx/deployment.mjs';
import { RedisBus } from '../src/index.js';
import { kit } from './kit.js';

// A credentials refresh through nginx with plain round-robin (docs/security.md, "Expiry and
// refresh"): two nodes on one RedisBus behind it, so an SSE client's POSTs (its `auth` among
// them) land on either node and reach the stream's node over the bus. 2-second tokens.

const nginx = findNginx();
if (!nginx) console.warn('nginx refresh test skipped: nginx not found (apt-get install nginx-light)');

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const release of cleanup.splice(0).reverse()) await release();
});

type Data = { userId: string; v: number; rooms: string[] };

async function deployment() {
  const redis = await RedisServer.start();
  cleanup.push(() => redis.stop());
  const calls: Array<{ node: number; v: number }> = [];
  const nodes: TestNode[] = [];
  for (let i = 0; i < 2; i++) {
    const bus = new RedisBus({ url: `redis://127.0.0.1:${redis.port}` });
    const node = await startTestNode(kit, {
      bus,
      authenticate: (_req, auth) => {
        const { v } = auth as { v: number };
        calls.push({ node: i, v });
        // The first credentials allow rooms a and b, every later one only a.
        return withExpiry({ userId: 'ann', v, rooms: v === 1 ? ['a', 'b'] : ['a'] }, Date.now() + 2_000);
      },
      authorizeJoin: (conn, room) => (conn.data as Data).rooms.includes(room),
    });
    cleanup.push(async () => {
      await node.close();
      await bus.close();
    });
    nodes.push(node);
  }
  const dir = await mkdtemp(join(tmpdir(), 'tether-nginx-refresh-'));
  await mkdir(join(dir, 'temp'), { recursive: true });
  const port = await freePort();
  await writeFile(join(dir, 'nginx.conf'), nginxConfig({ port, upstreams: nodes.map((n) => n.port), dir }));
  const proxy = spawn(
    nginx!,
    [
      '-p',
      dir,
      '-e',
      join(dir, 'error.log'),
      '-c',
      'nginx.conf',
      '-g',
      `daemon off; pid ${join(dir, 'nginx.pid')};`,
    ],
    { stdio: 'ignore' },
  );
  cleanup.push(async () => {
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    proxy.kill('SIGQUIT');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/tether`;
  // nginx is up once it answers (the app's 200 from either node).
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.ok,
        () => false,
      ),
    { timeout: 10_000 },
  );
  return { nodes, calls, url };
}

describe.skipIf(!nginx)('refresh through nginx round-robin', () => {
  it.each(['sse', 'websocket'] as const)(
    'over %s: asked before the expiry, refreshed on the open connection, a room refused now is left',
    async (transport) => {
      const { nodes, calls, url } = await deployment();
      const opened: string[] = [];
      for (const [i, node] of nodes.entries()) node.tether.on('connection', () => opened.push(`node${i}`));
      let version = 0;
      const client: TetherClient = new kit.TetherClient(url, {
        transports: [transport],
        auth: () => ({ v: ++version }),
        reconnect: { initialDelay: 50, maxDelay: 200 },
      });
      cleanup.push(() => client.close());
      await waitForState(client, 'open');
      const states: string[] = [];
      client.on('state', (s) => states.push(s));
      const a = await client.join('a');
      const b = await client.join('b');
      const fromA: unknown[] = [];
      a.on('m', (d) => fromA.push(d));
      const bLeft = new Promise<{ code: string | undefined }>((resolve) => b.on('tether:left', resolve));
      await nodes[1]!.tether.to('a').emit('m', 1);

      expect(await bLeft).toEqual({ code: 'JOIN_REFUSED' });
      expect(calls.map((c) => c.v)).toEqual([1, 2]);
      // Both runs of authenticate happened on the node that holds the connection.
      expect(calls[1]!.node).toBe(calls[0]!.node);
      await nodes[0]!.tether.to('a').emit('m', 2);
      await waitFor(() => fromA.length === 2, { timeout: 5_000 });
      expect(fromA).toEqual([1, 2]);
      expect(opened).toHaveLength(1);
      expect(states).toEqual([]);
      expect(client.state).toBe('open');
    },
  );
});
