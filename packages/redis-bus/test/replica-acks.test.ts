import { RedisCluster, redisCli } from '@tether/test-utils';
import { uniqueRoom } from '@tether/test-utils/suites';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/index.js';

// `replicaAcks`: a publish resolves only once Redis WAIT confirmed the write on that many replicas,
// and the WAIT must go to the master that took the write (not any node of the cluster).

/** `INFO commandstats` calls of one command on one node. */
async function calls(port: number, command: string): Promise<number> {
  const stats = await redisCli(port, ['info', 'commandstats']);
  const line = stats.split('\n').find((l) => l.startsWith(`cmdstat_${command}:`));
  return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

describe('replicaAcks on a cluster of 3 masters with 1 replica each', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  });
  afterAll(() => cluster?.stop());

  it('sends WAIT to the master that took the write, and resolves once a replica has it', async () => {
    const bus = new RedisBus({ cluster: { nodes: cluster.nodes }, keyPrefix: 'ra:', replicaAcks: 1 });
    try {
      const room = uniqueRoom();
      const before = await Promise.all(cluster.nodes.map((n) => calls(n.port, 'wait')));
      const result = await bus.publish({ room, event: 'e', data: 1, history: { size: 10, ttlMs: 60_000 } });
      expect(result.offset).toBe(1);
      const after = await Promise.all(cluster.nodes.map((n) => calls(n.port, 'wait')));
      const waited = cluster.nodes.filter((_, i) => after[i]! > before[i]!);
      expect(waited).toHaveLength(1);
      // The node that ran WAIT also ran the publish script (EVALSHA or EVAL).
      const port = waited[0]!.port;
      expect((await calls(port, 'evalsha')) + (await calls(port, 'eval'))).toBeGreaterThan(0);
    } finally {
      await bus.close();
    }
  });

  it('rejects with BUS_UNAVAILABLE (reason replica-acks) when fewer replicas confirm', async () => {
    const bus = new RedisBus({
      cluster: { nodes: cluster.nodes },
      keyPrefix: 'ra:',
      replicaAcks: 2,
      replicaAckTimeoutMs: 50,
    });
    try {
      await expect(
        bus.publish({ room: uniqueRoom(), event: 'e', data: 1, history: { size: 10, ttlMs: 60_000 } }),
      ).rejects.toMatchObject({
        code: 'BUS_UNAVAILABLE',
        details: { reason: 'replica-acks', acked: 1, wanted: 2 },
      });
    } finally {
      await bus.close();
    }
  });
});
