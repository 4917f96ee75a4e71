import { randomBytes } from 'node:crypto';
import { parseTagged, stringifyTagged } from '@tether/protocol';
import type {
  Bus,
  BusLink,
  BusNode,
  BusStatus,
  Delivery,
  HistoryPage,
  PresenceMember,
  Publication,
  PublishResult,
  RoomPosition,
} from '@tether/server';
import { ErrorCode, TetherError } from '@tether/server';
import { decodeBody, decodeFrame, encodeBody } from './codec.js';
import { CommandConnection, createCluster, createRedis, isClusterSource } from './connection.js';
import { unavailable } from './errors.js';
import { KeySpace } from './keys.js';
import { positive, type RedisBusOptions, type ResolvedSettings, resolveSettings } from './options.js';
import { Presence } from './presence.js';
import { HISTORY, INCREMENT, PUBLISH, runScript, runScriptAndWait, SPUBLISH } from './scripts.js';
import { ShardedSubscriber } from './sharded-subscriber.js';
import { type ChannelSubscriber, Subscriber } from './subscriber.js';

interface AttachedNode {
  node: BusNode;
  rooms: Set<string>;
  channel: string;
  /** `onStatus` is called for changes after `attach` resolved; before, the node reads `status`. */
  notify: boolean;
}

const newEpoch = () => randomBytes(6).toString('base64url');
/**
 * The cross-node bus on Redis: one pub/sub channel per room (subscribed only while a node has
 * local members), history in a Redis Stream per room, offsets and dedup assigned atomically by
 * one Lua script per publish, presence in a hash per room filtered by node liveness, and small
 * expiring values for sessions, dedup and rate limits.
 *
 * On a Redis Cluster (`cluster: { nodes }`, or a `Cluster` as `client`) every room lives in one
 * slot, its channels use sharded pub/sub (SPUBLISH/SSUBSCRIBE: a message travels only within the
 * room's shard), and delivery is proven per shard: a shard whose subscriptions were interrupted
 * (a failover moved it to its replica) makes `status` go `'down'` until they are proven again.
 *
 * The bus delivers room messages as pub/sub brings them; it does not repair gaps. The server
 * does, on every bus (room-continuity.ts in @tether/server): on `'up'` after `'down'`, and on a
 * message that skips offsets, it reads what was missed from `history`. See docs/redis-bus.md.
 *
 * It connects on first use (no connect call) with two connections: commands and a subscriber.
 * It closes them when the last attached node detaches, or on `close()`. A `client` you pass is
 * used for commands and never closed by the bus; the subscriber is a `duplicate()` of it.
 *
 * While Redis is unreachable, `status` is `'down'` and every method rejects at once with a
 * `TetherError` of code `BUS_UNAVAILABLE`; nothing is queued. ioredis reconnects by itself; the
 * bus then resubscribes every channel, proves delivery with a probe, and only then reports `'up'`
 * to attached nodes (`onStatus`). See docs/redis-bus.md.
 *
 * @example
 * import { TetherServer } from '@tether/server';
 * import { RedisBus } from '@tether/redis-bus';
 * const tether = new TetherServer({ server: http, bus: new RedisBus({ url: 'redis://127.0.0.1:6379' }) });
 * // On a Redis Cluster (Redis 7): a few startup nodes are enough.
 * const clustered = new RedisBus({ cluster: { nodes: [{ host: '10.0.0.5', port: 7000 }] } });
 */
export class RedisBus implements Bus {
  readonly #keys: KeySpace;
  readonly #settings: ResolvedSettings;
  readonly #cmd: CommandConnection;
  readonly #instanceId = randomBytes(9).toString('base64url');
  readonly #nodes = new Map<string, AttachedNode>();
  readonly #roomNodes = new Map<string, Set<string>>();
  readonly #channelRooms = new Map<string, string>();
  readonly #channelNodes = new Map<string, string>();
  readonly #presence: Presence;
  readonly #upWaiters = new Set<() => void>();
  /** On a cluster: sharded pub/sub. */
  readonly #cluster: boolean;
  #sub: ChannelSubscriber | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #status: BusStatus = 'down';
  /** Liveness and presence were rewritten since the command connection's last `ready`. */
  #restored = false;
  #restoreGeneration = 0;
  #releasing: Promise<void> | undefined;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.#keys = new KeySpace(options.keyPrefix);
    this.#settings = resolveSettings(options);
    this.#cmd = new CommandConnection(this.#settings.source, this.#settings, () =>
      this.#onCommandConnection(),
    );
    this.#presence = new Presence({
      keys: this.#keys,
      cmd: this.#cmd,
      nodeTtlMs: this.#settings.nodeTtlMs,
      isAttached: (nodeId) => this.#nodes.has(nodeId),
    });
    this.#cluster = isClusterSource(this.#settings.source);
  }

  /** `'up'` when Redis answers and (with nodes attached) every subscription is proven to deliver. */
  get status(): BusStatus {
    return this.#status;
  }

  async attach(node: BusNode): Promise<BusLink> {
    this.#assertOpen();
    await this.#releasing;
    if (this.#nodes.has(node.nodeId)) throw new Error(`node ${node.nodeId} is already attached`);
    const entry: AttachedNode = {
      node,
      rooms: new Set(),
      channel: this.#keys.nodeChannel(node.nodeId),
      notify: false,
    };
    this.#nodes.set(node.nodeId, entry);
    this.#channelNodes.set(entry.channel, node.nodeId);
    this.#startHeartbeat();
    const sub = this.#subscriber();
    sub.start();
    await sub.add(entry.channel);
    try {
      await this.#cmd.run((redis) =>
        redis.set(this.#keys.nodeAlive(node.nodeId), '1', 'PX', this.#settings.nodeTtlMs),
      );
      await this.#waitUp(this.#settings.connectTimeoutMs);
    } catch {
      // Redis is down: attached anyway, status 'down'; onStatus('up') follows once it is back.
    }
    this.#recheck();
    entry.notify = true;
    return {
      subscribe: (room) => this.#subscribe(entry, room),
      unsubscribe: (room) => this.#unsubscribe(entry, room),
      detach: () => this.#detach(entry),
    };
  }

  async publish(publication: Publication): Promise<PublishResult> {
    this.#assertOpen();
    const keys = this.#keys.room(publication.room);
    const policy = publication.history;
    const size =
      policy === false || !(policy.size >= 1)
        ? 0
        : Math.min(Math.floor(policy.size), this.#settings.historyLimit);
    const ttl = policy === false || !(policy.ttlMs > 0) ? 0 : positive(policy.ttlMs);
    const mode = publication.volatile ? 'v' : size > 0 && ttl > 0 ? 'd' : 'n';
    const dedupTtl =
      publication.id === undefined ? 0 : positive(publication.dedupTtlMs ?? this.#settings.dedupTtlMs);
    const scriptKeys = [keys.meta, keys.log, keys.dedup(publication.id ?? '')];
    const args = [
      newEpoch(),
      this.#settings.roomTtlMs,
      mode,
      size,
      ttl,
      dedupTtl,
      keys.channel,
      encodeBody(publication),
      policy === false ? 0 : Math.max(0, Math.floor(policy.maxBytes ?? 0)),
    ];
    const script = this.#cluster ? SPUBLISH : PUBLISH;
    const wanted = this.#settings.replicaAcks;
    let reply: [string, number, number];
    if (wanted > 0) {
      const done = await this.#cmd.run((redis) =>
        runScriptAndWait(redis, script, scriptKeys, args, wanted, this.#settings.replicaAckTimeoutMs),
      );
      if (done.acked < wanted) {
        // Stored and delivered, but only on the master: say so rather than resolve as durable.
        throw new TetherError(
          ErrorCode.BusUnavailable,
          `Redis bus: publish reached ${done.acked} of ${wanted} replicas`,
          { reason: 'replica-acks', acked: done.acked, wanted },
        );
      }
      reply = done.reply as [string, number, number];
    } else {
      reply = (await this.#cmd.run((redis) => runScript(redis, script, scriptKeys, args))) as [
        string,
        number,
        number,
      ];
    }
    return { epoch: String(reply[0]), offset: Number(reply[1]), duplicate: Number(reply[2]) === 1 };
  }

  async history(room: string, after: RoomPosition | undefined, limit: number): Promise<HistoryPage> {
    this.#assertOpen();
    const keys = this.#keys.room(room);
    const max = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : this.#settings.historyLimit;
    const reply = (await this.#cmd.run((redis) =>
      runScript(
        redis,
        HISTORY,
        [keys.meta, keys.log],
        [
          newEpoch(),
          this.#settings.roomTtlMs,
          after ? '1' : '0',
          after?.epoch ?? '',
          after?.offset ?? 0,
          max,
        ],
      ),
    )) as [string, number, number, Array<string | number>];
    const epoch = String(reply[0]);
    const flat = reply[3];
    const messages = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      messages.push(decodeBody(String(flat[i + 1]), epoch, Number(flat[i])));
    return { epoch, offset: Number(reply[1]), messages, complete: Number(reply[2]) === 1 };
  }

  async sendToNode(nodeId: string, payload: unknown): Promise<void> {
    this.#assertOpen();
    const message = stringifyTagged(payload);
    const channel = this.#keys.nodeChannel(nodeId);
    await this.#cmd.run((redis) =>
      this.#cluster ? redis.spublish(channel, message) : redis.publish(channel, message),
    );
  }

  async get(key: string): Promise<string | undefined> {
    this.#assertOpen();
    return (await this.#cmd.run((redis) => redis.get(this.#keys.kv(key)))) ?? undefined;
  }

  async set(
    key: string,
    value: string,
    ttlMs: number,
    options: { ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    this.#assertOpen();
    const k = this.#keys.kv(key);
    const ttl = positive(ttlMs);
    const reply = await this.#cmd.run((redis) =>
      options.ifAbsent ? redis.set(k, value, 'PX', ttl, 'NX') : redis.set(k, value, 'PX', ttl),
    );
    return reply === 'OK';
  }

  async delete(key: string): Promise<void> {
    this.#assertOpen();
    await this.#cmd.run((redis) => redis.del(this.#keys.kv(key)));
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    this.#assertOpen();
    const k = this.#keys.kv(key);
    return Number(await this.#cmd.run((redis) => runScript(redis, INCREMENT, [k], [positive(ttlMs)])));
  }

  async addMember(room: string, nodeId: string, member: PresenceMember): Promise<void> {
    this.#assertOpen();
    await this.#presence.add(room, nodeId, member);
  }

  async removeMember(room: string, connId: string): Promise<void> {
    this.#assertOpen();
    await this.#presence.remove(room, connId);
  }

  async members(room: string): Promise<PresenceMember[]> {
    this.#assertOpen();
    return this.#presence.list(room);
  }

  /** Detaches every node still attached (dropping its presence), then closes the bus's connections. Final. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true; // from now on every call is refused; the detaches below run regardless
    const entries = [...this.#nodes.values()];
    await Promise.all(entries.map((entry) => this.#detach(entry)));
    await this.#releasing;
    await this.#release();
  }

  // --- rooms and nodes ---

  async #subscribe(entry: AttachedNode, room: string): Promise<void> {
    if (this.#nodes.get(entry.node.nodeId) !== entry || entry.rooms.has(room)) return;
    entry.rooms.add(room);
    let nodeIds = this.#roomNodes.get(room);
    if (!nodeIds) this.#roomNodes.set(room, (nodeIds = new Set()));
    nodeIds.add(entry.node.nodeId);
    if (nodeIds.size > 1) return;
    const channel = this.#keys.room(room).channel;
    this.#channelRooms.set(channel, room);
    await this.#sub?.add(channel);
  }

  async #unsubscribe(entry: AttachedNode, room: string): Promise<void> {
    if (!entry.rooms.delete(room)) return;
    const nodeIds = this.#roomNodes.get(room);
    nodeIds?.delete(entry.node.nodeId);
    if (nodeIds && nodeIds.size > 0) return;
    this.#roomNodes.delete(room);
    const channel = this.#keys.room(room).channel;
    this.#channelRooms.delete(channel);
    await this.#sub?.remove(channel);
  }

  async #detach(entry: AttachedNode): Promise<void> {
    const nodeId = entry.node.nodeId;
    if (this.#nodes.get(nodeId) !== entry) return;
    await Promise.all([...entry.rooms].map((room) => this.#unsubscribe(entry, room)));
    this.#nodes.delete(nodeId);
    this.#channelNodes.delete(entry.channel);
    await this.#sub?.remove(entry.channel);
    await this.#presence.dropNode(nodeId);
    if (this.#nodes.size === 0 && !this.#releasing) {
      this.#releasing = this.#release().finally(() => {
        this.#releasing = undefined;
      });
      await this.#releasing;
    }
  }

  #subscriber(): ChannelSubscriber {
    if (this.#cluster) {
      this.#sub ??= this.#shardedSubscriber();
      return this.#sub;
    }
    this.#sub ??= new Subscriber({
      create: () => createRedis(this.#settings.source, this.#settings),
      probeChannel: this.#keys.busChannel(this.#instanceId),
      probeTimeoutMs: this.#settings.probeTimeoutMs,
      publishProbe: async (channel, token) => {
        if (!this.#cmd.isReady) return false;
        await this.#cmd.run((redis) => redis.publish(channel, token));
        return true;
      },
      onMessage: (channel, message) => this.#dispatch(channel, message),
      onChange: () => this.#recheck(),
    });
    return this.#sub;
  }

  #shardedSubscriber(): ShardedSubscriber {
    return new ShardedSubscriber({
      create: () => createCluster(this.#settings.source, this.#settings, true),
      probeChannel: (n) => this.#keys.shardProbeChannel(this.#instanceId, n),
      probeTimeoutMs: this.#settings.probeTimeoutMs,
      publishProbe: async (channel, token) => {
        if (!this.#cmd.isReady) return undefined;
        return Number(await this.#cmd.run((redis) => redis.spublish(channel, token)));
      },
      onMessage: (channel, message) => this.#dispatch(channel, message),
      onChange: () => this.#recheck(),
    });
  }

  #dispatch(channel: string, message: string): void {
    const room = this.#channelRooms.get(channel);
    if (room !== undefined) {
      const delivery = decodeFrame(message);
      if (delivery) this.#deliver(room, delivery);
      return;
    }
    const nodeId = this.#channelNodes.get(channel);
    if (nodeId === undefined) return;
    let payload: unknown;
    try {
      payload = parseTagged(message);
    } catch {
      return; // not written by a RedisBus
    }
    this.#call(() => this.#nodes.get(nodeId)?.node.onNodeMessage(payload));
  }

  #deliver(room: string, delivery: Delivery): void {
    const nodeIds = this.#roomNodes.get(room);
    if (!nodeIds) return;
    for (const nodeId of nodeIds) this.#call(() => this.#nodes.get(nodeId)?.node.onRoomMessage(delivery));
  }

  /** Runs a node callback; a throw must not stop delivery to the other nodes, nor vanish. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#settings.onError(error);
    }
  }

  // --- status ---

  #onCommandConnection(): void {
    if (this.#cmd.isReady) void this.#restore();
    else this.#restored = false;
    this.#recheck();
  }

  /** After (re)connecting: liveness keys and presence entries back in Redis, then verify delivery. */
  async #restore(): Promise<void> {
    const generation = ++this.#restoreGeneration;
    this.#restored = false;
    try {
      await this.#cmd.run((redis) =>
        Promise.all([...this.#nodes.keys()].map((nodeId) => this.#presence.writeNode(redis, nodeId))),
      );
    } catch {
      return; // connection lost again: the next 'ready' restores
    }
    if (generation !== this.#restoreGeneration) return;
    this.#restored = true;
    this.#recheck();
    void this.#sub?.verify();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(
      () => void this.#beat(),
      Math.max(50, Math.floor(this.#settings.nodeTtlMs / 3)),
    );
    this.#heartbeat.unref();
  }

  /** Renews liveness and presence (restoring what vanished), then probes delivery. */
  async #beat(): Promise<void> {
    if (!this.#cmd.isReady) return;
    const nodeIds = [...this.#nodes.keys()];
    await this.#cmd.run((redis) => this.#presence.heartbeat(redis, nodeIds)).catch(() => {});
    await this.#sub?.check();
  }

  #recheck(): void {
    const up =
      this.#cmd.isReady && (this.#nodes.size === 0 || (this.#restored && this.#sub?.verified === true));
    const next: BusStatus = up ? 'up' : 'down';
    if (up) for (const resolve of this.#upWaiters) resolve();
    if (next === this.#status) return;
    this.#status = next;
    for (const { node, notify } of [...this.#nodes.values()])
      if (notify) this.#call(() => node.onStatus?.(next));
  }

  #waitUp(ms: number): Promise<void> {
    if (this.#status === 'up') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#upWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#upWaiters.add(done);
    });
  }

  /** Closes both connections and stops every timer; the next use (if not closed) opens them again. */
  async #release(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const resolve of [...this.#upWaiters]) resolve();
    const sub = this.#sub;
    this.#sub = undefined;
    this.#presence.clear();
    this.#restored = false;
    this.#restoreGeneration++;
    await Promise.all([sub?.stop(), this.#cmd.release()]);
    this.#recheck();
  }

  #assertOpen(): void {
    if (this.#closed) throw unavailable('the bus is closed');
  }
}
