import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HandleTracker, trackHandles } from './leak-check.js';
import { redisCli } from './redis-cli.js';
import { RedisCluster } from './redis-cluster.js';
import { waitFor } from './wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let handles: HandleTracker;
beforeAll(() => {
  handles = trackHandles();
});
afterAll(() => handles.check());

describe('RedisCluster', () => {
  it('forms a cluster of 3 masters and brings a killed node back', async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    cleanups.push(() => cluster.stop());
    expect(cluster.nodes).toHaveLength(3);
    for (const node of cluster.nodes) {
      expect(await redisCli(node.port, ['cluster', 'info'])).toMatch(/cluster_state:ok/);
    }
    expect(await cluster.masters()).toHaveLength(3);

    // Through the cluster, a key lands on whichever master owns its slot.
    const first = cluster.nodes[0]!;
    expect(await redisCli(first.port, ['-c', 'set', 'greeting', 'hi'])).toBe('OK');
    expect(await redisCli(first.port, ['-c', 'get', 'greeting'])).toBe('hi');

    await cluster.killNode(1);
    expect(cluster.servers[1]!.running).toBe(false);
    await cluster.restartNode(1);
    expect(await redisCli(cluster.nodes[1]!.port, ['ping'])).toBe('PONG');
    expect(await cluster.masters()).toHaveLength(3);
  }, 30_000);

  it('fails over to a replica when a master dies', async () => {
    const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1, nodeTimeout: 1000 });
    cleanups.push(() => cluster.stop());
    expect(cluster.nodes).toHaveLength(6);
    const before = await cluster.masters();
    expect(before).toHaveLength(3);

    const victim = cluster.nodes.findIndex((n) => n.port === before[0]!.port);
    await cluster.killNode(victim);
    // Healthy right after the kill proves nothing: the others have not noticed yet.
    const after = await waitFor(
      async () => {
        const masters = await cluster.masters();
        return masters.length === 3 && !masters.some((n) => n.port === before[0]!.port) && masters;
      },
      { timeout: 15_000, interval: 100, message: 'no replica took over' },
    );
    await cluster.waitUntilHealthy(15_000);
    expect(after).toHaveLength(3);
  }, 30_000);
});
