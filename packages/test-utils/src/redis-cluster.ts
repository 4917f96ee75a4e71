import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from './child-reaper.js';
import { freePort } from './free-port.js';
import { redisCli, runRedisCli } from './redis-cli.js';
import { RedisServer, RedisStartError } from './redis-server.js';
import { delay } from './wait.js';

/**
 * Options of {@link RedisCluster.start}.
 *
 * @example
 * ```ts
 * const options: RedisClusterOptions = { masters: 3, replicasPerMaster: 1, nodeTimeout: 1000 };
 * ```
 */
export interface RedisClusterOptions {
  /** Number of masters; Redis needs at least 3. Default 3. */
  masters?: number;
  /** Replicas for each master. Default 0. */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in milliseconds: how long a silent node takes to be marked failed (and a
   * replica promoted). Short, so failover tests are quick. Default 2000.
   */
  nodeTimeout?: number;
  /** Milliseconds to wait for the cluster to form. Default 30000. */
  startTimeout?: number;
}

/**
 * Address of one cluster node.
 *
 * @example
 * ```ts
 * const [seed]: RedisClusterNode[] = cluster.nodes;
 * ```
 */
export interface RedisClusterNode {
  host: string;
  port: number;
}

const CLUSTER_SLOTS = 16384;

/**
 * A real Redis Cluster of `masters` (+ replicas) `redis-server` processes on free ports, formed
 * with `redis-cli --cluster create`, persisting no data.
 *
 * Each node keeps its `nodes.conf` across {@link RedisCluster.restartNode}, so a restarted node
 * rejoins the cluster with its identity (and its slots, if no replica took them over) but no data.
 *
 * @example
 * ```ts
 * const cluster = await RedisCluster.start({ masters: 3 });
 * const bus = new RedisBus({ cluster: cluster.nodes });
 * await cluster.killNode(0);
 * await cluster.restartNode(0);
 * await cluster.stop();
 * ```
 */
export class RedisCluster {
  /** The server of each node, same order as {@link RedisCluster.nodes}. */
  readonly servers: readonly RedisServer[];
  #root: string;
  #forgetRoot: () => void;
  #startTimeout: number;

  private constructor(root: string, forgetRoot: () => void, servers: RedisServer[], startTimeout: number) {
    this.#root = root;
    this.#forgetRoot = forgetRoot;
    this.servers = servers;
    this.#startTimeout = startTimeout;
  }

  /**
   * Every node, in start order; the first `masters` were created as masters (roles change on
   * failover: see {@link RedisCluster.masters}).
   *
   * @example
   * ```ts
   * new Cluster(cluster.nodes);
   * ```
   */
  get nodes(): RedisClusterNode[] {
    return this.servers.map((s) => ({ host: s.host, port: s.port }));
  }

  /**
   * Starts the nodes, forms the cluster, and resolves once every node reports `cluster_state:ok`
   * (and every replica is linked to its master).
   *
   * @example
   * ```ts
   * const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
   * ```
   */
  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const { masters = 3, replicasPerMaster = 0, nodeTimeout = 2000, startTimeout = 30_000 } = options;
    if (masters < 3) throw new RangeError(`RedisCluster: Redis needs at least 3 masters, got ${masters}`);
    const count = masters * (1 + replicasPerMaster);
    const root = await mkdtemp(join(tmpdir(), 'tether-redis-cluster-'));
    const servers: RedisServer[] = [];
    const cluster = new RedisCluster(root, removeOnExit(root), servers, startTimeout);
    try {
      const started = await Promise.allSettled(
        Array.from({ length: count }, (_, i) => startNode(join(root, `node-${i}`), nodeTimeout)),
      );
      for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;

      const addresses = servers.map((s) => `${s.host}:${s.port}`);
      await runRedisCli(
        [
          '--cluster',
          'create',
          ...addresses,
          '--cluster-replicas',
          String(replicasPerMaster),
          '--cluster-yes',
        ],
        startTimeout,
      );
      await cluster.waitUntilHealthy(startTimeout);
      // Each replica reports its link up before gossip has told the other nodes it is a replica:
      // wait until the first node's table shows the asked number of masters too.
      const deadline = Date.now() + startTimeout;
      while ((await cluster.masters()).length !== masters) {
        if (Date.now() > deadline)
          throw new Error(`RedisCluster: the node table never showed ${masters} masters`);
        await delay(100);
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /**
   * Resolves once every running node reports `cluster_state:ok` with all slots assigned, and every
   * running replica's link to its master is up. Use it after a failover or a restart.
   *
   * @example
   * ```ts
   * await cluster.killNode(0);
   * await cluster.waitUntilHealthy(); // a replica took over
   * ```
   */
  async waitUntilHealthy(timeout = this.#startTimeout): Promise<void> {
    const deadline = Date.now() + timeout;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.#unhealthyReason();
      if (last === '') return;
      await delay(100);
    }
    throw new Error(`RedisCluster not healthy after ${timeout} ms: ${last}`);
  }

  /**
   * The nodes that currently act as masters (not marked failed), as seen by the first running node.
   *
   * @example
   * ```ts
   * const [first] = await cluster.masters();
   * ```
   */
  async masters(): Promise<RedisClusterNode[]> {
    const observer = this.servers.find((s) => s.running);
    if (!observer) return [];
    const table = await redisCli(observer.port, ['cluster', 'nodes']);
    const result: RedisClusterNode[] = [];
    for (const line of table.split('\n')) {
      const [, address, flags] = line.split(' ');
      if (!address || !flags) continue;
      const roles = flags.split(',');
      if (!roles.includes('master') || roles.includes('fail')) continue;
      const match = /^(.*):(\d+)@/.exec(address);
      if (match?.[1] && match[2]) result.push({ host: match[1], port: Number(match[2]) });
    }
    return result;
  }

  /**
   * Kills node `i` with SIGKILL (a crash). The cluster marks it failed after `nodeTimeout`.
   *
   * @example
   * ```ts
   * await cluster.killNode(1);
   * ```
   */
  async killNode(i: number): Promise<void> {
    await this.#server(i).kill();
  }

  /**
   * Restarts node `i` on its ports with empty data and its cluster identity, then waits until the
   * cluster is healthy again.
   *
   * @example
   * ```ts
   * await cluster.killNode(1);
   * await cluster.restartNode(1);
   * ```
   */
  async restartNode(i: number): Promise<void> {
    await this.#server(i).restart();
    await this.waitUntilHealthy();
  }

  /**
   * Kills every node and removes their folders. Safe to call twice.
   *
   * @example
   * ```ts
   * afterAll(() => cluster.stop());
   * ```
   */
  async stop(): Promise<void> {
    // A test cluster keeps nothing, and SIGTERM would make a master wait for lagging replicas.
    await Promise.all(this.servers.map((s) => s.kill()));
    await Promise.all(this.servers.map((s) => s.stop()));
    await rm(this.#root, { recursive: true, force: true });
    this.#forgetRoot();
  }

  #server(i: number): RedisServer {
    const server = this.servers[i];
    if (!server) throw new RangeError(`RedisCluster: no node ${i} (there are ${this.servers.length})`);
    return server;
  }

  /** Empty when healthy; otherwise what is wrong, for the timeout message. */
  async #unhealthyReason(): Promise<string> {
    const running = this.servers.filter((s) => s.running);
    if (running.length === 0) return 'no node is running';
    const reasons = await Promise.all(
      running.map(async (s) => {
        try {
          const info = parseInfo(await redisCli(s.port, ['cluster', 'info']));
          if (info.get('cluster_state') !== 'ok')
            return `${s.port}: cluster_state:${info.get('cluster_state')}`;
          if (info.get('cluster_slots_assigned') !== String(CLUSTER_SLOTS)) {
            return `${s.port}: cluster_slots_assigned:${info.get('cluster_slots_assigned')}`;
          }
          const replication = parseInfo(await redisCli(s.port, ['info', 'replication']));
          if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up') {
            return `${s.port}: replica link ${replication.get('master_link_status')}`;
          }
          return '';
        } catch (error) {
          return `${s.port}: ${error instanceof Error ? error.message : String(error)}`;
        }
      }),
    );
    return reasons.filter((r) => r !== '').join('; ');
  }
}

/** Starts one cluster node, on new ports if another process takes the ones picked first. */
async function startNode(dir: string, nodeTimeout: number): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let busPort = await freePort();
    while (busPort === port) busPort = await freePort();
    try {
      return await RedisServer.start({
        port,
        dir,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(nodeTimeout),
          // The default bus port (port + 10000) is past 65535 for most ephemeral ports.
          '--cluster-port',
          String(busPort),
          // Replicas would otherwise wait 5 s before their first sync.
          '--repl-diskless-sync-delay',
          '0',
        ],
      });
    } catch (error) {
      const inUse = error instanceof RedisStartError && error.code === 'REDIS_ADDRESS_IN_USE';
      if (!inUse || attempt >= 3) throw error;
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Parses `INFO`-style `key:value` lines. */
function parseInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return map;
}
