import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TetherClient } from '@tether/client';
import { TetherEmitter } from '@tether/server';
import { delay, waitFor } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type Deployment, findNginx, startDeployment } from '../../../examples/nginx/deployment.mjs';
import { RedisBus } from '../src/index.js';

// End to end through the nginx example (examples/nginx): three chat-example nodes as separate
// processes on RedisBus, behind nginx with plain round-robin. Clients over WebSocket and over
// SSE work through it, and when a node is killed its clients move to the others and receive
// every room message published meanwhile, once, in order.
//
// The nodes run the built packages (dist/), like a deployment would: `pnpm build` first.

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const missing = [
  findNginx() ? undefined : 'nginx (apt-get install nginx-light, or set NGINX=/path/to/nginx)',
  existsSync(root('packages/server/dist/index.js')) && existsSync(root('packages/redis-bus/dist/index.js'))
    ? undefined
    : 'the built packages (run pnpm build)',
  existsSync(root('examples/chat/node_modules/express'))
    ? undefined
    : "the chat example's dependencies (pnpm install)",
].filter((m): m is string => m !== undefined);
if (missing.length > 0) console.warn(`nginx end-to-end tests skipped: missing ${missing.join('; ')}`);

/** The chat example keeps this much history per room; a backend publisher gives the same policy. */
const CHAT_HISTORY = { size: 500, ttlMs: 24 * 3_600_000 };
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const release of cleanup.splice(0).reverse()) await release();
});

async function deploy(): Promise<Deployment> {
  const output: string[] = [];
  const deployment = await startDeployment({ nodes: 3, log: (line) => output.push(line) });
  cleanup.push(() => deployment.stop());
  return deployment;
}

interface Member {
  client: TetherClient;
  /** The node named by each `hello` the chat example sends on connection (one per (re)connection). */
  nodes: string[];
  got: number[];
}

/**
 * Six members of one room through nginx over one transport; a backend publisher emits into the
 * room while the node serving most of them is killed.
 */
async function killOneNodeMidStream(transport: 'websocket' | 'sse') {
  const deployment = await deploy();
  const room = `chat:e2e-${randomUUID().slice(0, 8)}`;
  const emitter = new TetherEmitter({
    bus: new RedisBus({ url: deployment.redisUrl }),
    history: CHAT_HISTORY,
  });
  cleanup.push(() => emitter.close());

  const members: Member[] = [];
  for (let i = 0; i < 6; i++) {
    const client = new TetherClient(deployment.tetherUrl, {
      transports: [transport],
      auth: { name: `user${i}` },
      reconnect: { initialDelay: 50, maxDelay: 500 },
    });
    cleanup.push(() => client.close());
    const member: Member = { client, nodes: [], got: [] };
    client.on('hello', (data) => member.nodes.push((data as { node: string }).node));
    const handle = await client.join(room);
    handle.on('message', (data) => member.got.push((data as { n: number }).n));
    members.push(member);
  }
  await waitFor(() => members.every((m) => m.nodes.length === 1), { timeout: 5000 });
  expect(members.every((m) => m.client.transport === transport)).toBe(true);
  // Round-robin spreads WebSocket connections over the nodes. (An SSE client makes the same
  // number of requests while it connects, stream and POSTs, so its streams may all land on the
  // same node; its POSTs go round the others, which forward them over the bus.)
  if (transport === 'websocket') expect(new Set(members.map((m) => m.nodes[0])).size).toBeGreaterThan(1);

  let published = 0;
  let stop = false;
  const publisher = (async () => {
    for (let n = 1; !stop && n <= 2000; n++) {
      await emitter.to(room).emit('message', { n }, { id: `e2e:${n}` });
      published = n;
      await delay(20); // pacing, not synchronisation: a steady stream, about 50 a second
    }
  })();
  cleanup.push(async () => {
    stop = true;
    await publisher.catch(() => {});
  });
  await waitFor(() => published >= 10 && members.every((m) => m.got.length >= 5), { timeout: 5000 });

  // Kill (SIGKILL: a crash, no goodbye) the node serving the most members.
  const load = new Map<string, number>();
  for (const m of members) load.set(m.nodes.at(-1)!, (load.get(m.nodes.at(-1)!) ?? 0) + 1);
  const [victimName] = [...load].sort((a, b) => b[1] - a[1])[0]!;
  const victim = deployment.nodes.find((n) => n.name === victimName)!;
  const moving = members.filter((m) => m.nodes.at(-1) === victimName);
  victim.kill('SIGKILL');

  // Its members reconnect through nginx, which sends them to the nodes still alive.
  await waitFor(() => moving.every((m) => m.nodes.length >= 2 && m.client.state === 'open'), {
    timeout: 15_000,
    message: () =>
      `members of ${victimName} did not move: ${moving.map((m) => m.nodes.join('>')).join(', ')}`,
  });
  for (const m of moving) expect(m.nodes.at(-1)).not.toBe(victimName);
  const movedAt = published;
  await waitFor(() => published >= movedAt + 20, { timeout: 5000 });
  stop = true;
  await publisher;

  // Every member got every message once, in order: those that moved recovered what was
  // published while they were away from history in Redis.
  await waitFor(() => members.every((m) => m.got.length >= published), {
    timeout: 10_000,
    message: () => `received ${members.map((m) => m.got.length).join(',')} of ${published}`,
  });
  for (const m of members) expect(m.got).toEqual(range(1, published));
  expect(moving.length).toBeGreaterThan(0);
}

describe.skipIf(missing.length > 0)(
  'three Tether nodes behind nginx (round-robin, no sticky sessions)',
  () => {
    it('spreads plain requests over every node', async () => {
      const deployment = await deploy();
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const res = await fetch(`${deployment.url}/healthz`);
        seen.add(((await res.json()) as { node: string }).node);
      }
      expect([...seen].sort()).toEqual(['node-1', 'node-2', 'node-3']);
    });

    it('WebSocket clients work through nginx and move, losing nothing, when their node is killed', async () => {
      await killOneNodeMidStream('websocket');
    }, 45_000);

    it('SSE clients work through nginx and move, losing nothing, when their node is killed', async () => {
      await killOneNodeMidStream('sse');
    }, 45_000);
  },
);
