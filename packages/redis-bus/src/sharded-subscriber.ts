import type { Cluster } from 'ioredis';
import { closeRedis } from './connection.js';
import { keySlot } from './slot.js';
import type { ChannelSubscriber } from './subscriber.js';

/** What a {@link ShardedSubscriber} needs from its bus. */
export interface ShardedSubscriberOptions {
  /** A new, not yet connected `Cluster` with `shardedSubscribers: true` and RedisBus's fail-fast settings. */
  create: () => Cluster;
  /** The `n`-th candidate name of this bus instance's probe channels (one is kept per master). */
  probeChannel: (n: number) => string;
  /** How long a probe may take to come back before it counts as lost. */
  probeTimeoutMs: number;
  /** SPUBLISHes a probe over the command connection: the number of receivers, or `undefined` when it could not be sent. */
  publishProbe: (channel: string, token: string) => Promise<number | undefined>;
  /** Every message of every other channel. */
  onMessage: (channel: string, message: string) => void;
  /** `verified` changed. */
  onChange: () => void;
}

/** Verification rounds per run (then the bus heartbeat starts another run); covers a failover of ~25 s. */
const VERIFY_ROUNDS = 30;
/** A shard whose probes reach its master but never come back for this long gets a new subscriber client. */
const RECYCLE_AFTER_MS = 10_000;
/** Candidate probe names tried per master; a master owning even one slot is found in ~16 k tries on average. */
const PROBE_NAME_TRIES = 100_000;

/** A subscription request Redis or ioredis may not have recorded; those are sent again. */
const NOT_RECORDED = /isn't ready|No sharded subscriber/;

/**
 * The subscriber side of a RedisBus on a Redis Cluster, with sharded pub/sub.
 *
 * Channels are subscribed with SSUBSCRIBE on one ioredis `Cluster` client created with
 * `shardedSubscribers: true`: ioredis keeps one subscriber connection per master, sends each
 * SSUBSCRIBE to the master that owns the channel's slot, and after a topology change (a replica
 * promoted in place of a failed master) moves the subscriptions to the new owner. It does that
 * silently, though, and a subscription it failed to move would stay lost. So, as the standalone
 * {@link Subscriber} does for its one connection, this class proves delivery, here **per master**:
 * it keeps one probe channel hashed into a slot of every master, SPUBLISHes a token there over the
 * command connection and waits for it to come back. A master whose probe does not come back is
 * unverified until one does, and `verified` is false meanwhile: the bus reports `'down'`, then
 * `'up'`, and the server reads what its rooms missed from history (pub/sub does not replay what
 * was published while a subscription was moving). A master whose probes are received by no one
 * for {@link RECYCLE_AFTER_MS} gets a whole new client.
 *
 * @example
 * const sub = new ShardedSubscriber({ create, probeChannel, probeTimeoutMs: 2000, publishProbe, onMessage, onChange });
 * sub.start();
 * await sub.add('tether:{order:42}:ch');
 */
export class ShardedSubscriber implements ChannelSubscriber {
  readonly #options: ShardedSubscriberOptions;
  /** Room and node channels the bus wants. */
  readonly #channels = new Set<string>();
  /** Channels SSUBSCRIBEd through the current client (ioredis resubscribes those by itself). */
  readonly #issued = new Set<string>();
  /** Channels to SUNSUBSCRIBE once the client is ready again. */
  readonly #unwanted = new Set<string>();
  /** Probe channels of this instance, by name. */
  readonly #probeChannels = new Set<string>();
  /** Verified state per master (node key `host:port`). */
  readonly #shards = new Map<string, boolean>();
  /** Since when probes to a master reached it but found no subscriber. */
  readonly #lostSince = new Map<string, number>();
  readonly #tokens = new Map<string, (echoed: boolean) => void>();
  #client: Cluster | undefined;
  #verified = false;
  #verifying = false;
  #again = false;
  #probeSeq = 0;
  #tokenSeq = 0;
  /** Incremented on stop and on recycling: work of an older generation stops. */
  #generation = 0;
  #wake: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;
  readonly #listeners = {
    ready: () => void this.verify(),
    close: () => this.#unverifyAll(),
    end: () => this.#unverifyAll(),
    error: () => {
      // Reported through `verified` and the bus status; ioredis reconnects by itself.
    },
    smessage: (channel: string, message: string) => this.#onMessage(channel, message),
    // A sharded subscriber connection ended: its master (or what was its master) lost our subscriptions.
    '-node': (redis: { options?: { host?: string; port?: number } } | undefined, nodeKey?: string) => {
      const key = nodeKey ?? (redis?.options ? `${redis.options.host}:${redis.options.port}` : undefined);
      if (key === undefined) this.#unverifyAll();
      else if (this.#shards.get(key)) {
        this.#shards.set(key, false);
        this.#update();
      }
      void this.verify();
    },
    // ioredis moved the subscriptions after a topology change: prove them.
    subscribersReady: () => void this.verify(),
  };

  constructor(options: ShardedSubscriberOptions) {
    this.#options = options;
  }

  get verified(): boolean {
    return this.#verified;
  }

  /**
   * The master currently serving `channel`'s slot (`host:port`), as this client's slot table says.
   *
   * @example
   * sub.ownerOf('tether:{order:42}:ch'); // '127.0.0.1:7001'
   */
  ownerOf(channel: string): string | undefined {
    return this.#client?.slots[keySlot(channel)]?.[0];
  }

  start(): void {
    if (this.#client) return;
    const client = this.#options.create();
    for (const [event, listener] of Object.entries(this.#listeners)) client.on(event, listener);
    this.#client = client;
    client.connect().catch(() => {
      // The first attempt failed: ioredis keeps retrying, and `ready` subscribes.
    });
  }

  async add(channel: string): Promise<void> {
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    this.#unwanted.delete(channel);
    const client = this.#client;
    if (client?.status === 'ready' && !this.#issued.has(channel)) await this.#subscribe(client, channel);
  }

  async remove(channel: string): Promise<void> {
    if (!this.#channels.delete(channel)) return;
    if (!this.#issued.has(channel)) return;
    this.#unwanted.add(channel);
    const client = this.#client;
    if (client?.status === 'ready') await this.#unsubscribe(client, channel);
  }

  /**
   * Probes every master not yet verified, in rounds with a growing pause, until all are or the
   * rounds run out (the next heartbeat starts again). A run already going is asked to go round
   * once more instead.
   */
  async verify(): Promise<void> {
    if (this.#verifying) {
      this.#again = true;
      this.#wake?.resolve();
      return;
    }
    const generation = this.#generation;
    this.#verifying = true;
    try {
      for (let round = 0; round < VERIFY_ROUNDS; round++) {
        this.#again = false;
        const client = this.#client;
        if (client?.status !== 'ready' || generation !== this.#generation) return;
        await this.#reconcile(client);
        const masters = this.#masters(client);
        for (const key of [...this.#shards.keys()]) if (!masters.has(key)) this.#shards.delete(key);
        const todo = [...masters].filter((key) => this.#shards.get(key) !== true);
        // A master not proven yet (one a topology change brought, with no connection lost) makes
        // the whole subscriber unverified until it is: the bus goes 'down', then 'up', and the
        // server reads what that master's rooms missed meanwhile.
        this.#update();
        const results = await Promise.all(todo.map((key) => this.#probeShard(client, key)));
        if (generation !== this.#generation) return;
        const now = Date.now();
        let recycle = false;
        todo.forEach((key, i) => {
          const result = results[i];
          if (result === true) {
            this.#lostSince.delete(key);
            this.#shards.set(key, true);
          } else if (result === false) {
            const since = this.#lostSince.get(key) ?? now;
            this.#lostSince.set(key, since);
            if (now - since >= RECYCLE_AFTER_MS) recycle = true;
          }
        });
        this.#update();
        // A master still unproven may be a dead one whose replica was promoted meanwhile. ioredis
        // 6.1 looks for a new topology on one backoff timer (up to 2 s apart) after a sharded
        // subscriber is lost, so ask for the slot table now: the next round then probes (and
        // ioredis subscribes) the new master. ioredis runs one refresh at a time.
        if (results.some((result) => result !== true)) client.refreshSlotsCache();
        if (recycle) {
          this.#recycle();
          return;
        }
        if (this.#verified && !this.#again) return;
        await this.#pause(Math.min(100 * 2 ** round, 1000), generation);
      }
    } finally {
      this.#verifying = false;
    }
  }

  /** One probe per verified master; a master whose probe is lost becomes unverified and is verified again. */
  async check(): Promise<void> {
    const client = this.#client;
    if (!this.#verified || !client || this.#verifying) return this.verify();
    const generation = this.#generation;
    const keys = [...this.#shards].filter(([, ok]) => ok).map(([key]) => key);
    const results = await Promise.all(keys.map((key) => this.#probeShard(client, key)));
    if (generation !== this.#generation) return;
    let lost = false;
    keys.forEach((key, i) => {
      if (results[i] === true || this.#shards.get(key) !== true) return;
      this.#shards.set(key, false);
      lost = true;
    });
    this.#update();
    if (lost || !this.#verified) await this.verify();
  }

  async stop(): Promise<void> {
    this.#generation++;
    this.#wake?.resolve();
    for (const settle of this.#tokens.values()) settle(false);
    this.#tokens.clear();
    this.#channels.clear();
    this.#unwanted.clear();
    this.#probeChannels.clear();
    this.#verified = false;
    const client = this.#detachClient();
    if (client) await closeRedis(client);
  }

  // --- subscriptions ---

  async #subscribe(client: Cluster, channel: string): Promise<boolean> {
    try {
      await client.ssubscribe(channel);
    } catch (error) {
      // Not recorded by ioredis: the next verification round sends it again. Otherwise ioredis
      // knows the channel and subscribes it as soon as that master's connection is back.
      if (error instanceof Error && NOT_RECORDED.test(error.message)) return false;
    }
    if (this.#client !== client) return true;
    this.#issued.add(channel);
    // Removed while the subscription was on its way: take it back.
    if (!this.#channels.has(channel) && !this.#probeChannels.has(channel)) {
      this.#unwanted.add(channel);
      await this.#unsubscribe(client, channel);
    }
    return true;
  }

  async #unsubscribe(client: Cluster, channel: string): Promise<void> {
    try {
      await client.sunsubscribe(channel);
    } catch (error) {
      if (error instanceof Error && NOT_RECORDED.test(error.message)) return;
    }
    if (this.#client !== client) return;
    this.#unwanted.delete(channel);
    this.#issued.delete(channel);
    // Wanted again while the unsubscription was on its way: subscribe it again.
    if (this.#channels.has(channel)) await this.#subscribe(client, channel);
  }

  /** Sends what ioredis does not know yet: new channels, a probe channel per master, and unsubscriptions. */
  async #reconcile(client: Cluster): Promise<void> {
    const masters = this.#masters(client);
    for (const key of masters) {
      if ([...this.#probeChannels].some((channel) => this.ownerOf(channel) === key)) continue;
      const channel = this.#newProbeChannel(client, key);
      if (channel) this.#probeChannels.add(channel);
    }
    const pending = [...this.#channels, ...this.#probeChannels].filter((c) => !this.#issued.has(c));
    await Promise.all([
      ...pending.map((channel) => this.#subscribe(client, channel)),
      ...[...this.#unwanted].map((channel) => this.#unsubscribe(client, channel)),
    ]);
  }

  /** A probe channel name hashing into a slot that `master` serves. */
  #newProbeChannel(client: Cluster, master: string): string | undefined {
    for (let tries = 0; tries < PROBE_NAME_TRIES; tries++) {
      const channel = this.#options.probeChannel(this.#probeSeq++);
      if (client.slots[keySlot(channel)]?.[0] === master) return channel;
    }
    return undefined;
  }

  // --- probes ---

  /** Masters serving at least one slot, by node key. */
  #masters(client: Cluster): Set<string> {
    const masters = new Set<string>();
    for (const owners of client.slots) if (owners?.[0]) masters.add(owners[0]);
    return masters;
  }

  /** true: came back; false: reached the master, not us; undefined: could not be sent now. */
  async #probeShard(client: Cluster, master: string): Promise<boolean | undefined> {
    const channel = [...this.#probeChannels].find((c) => client.slots[keySlot(c)]?.[0] === master);
    if (!channel || !this.#issued.has(channel)) return undefined;
    const token = `${this.#generation}.${++this.#tokenSeq}`;
    const echoed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => settle(false), this.#options.probeTimeoutMs);
      timer.unref();
      const settle = (value: boolean) => {
        clearTimeout(timer);
        this.#tokens.delete(token);
        resolve(value);
      };
      this.#tokens.set(token, settle);
    });
    const receivers = await this.#options.publishProbe(channel, token).catch(() => undefined);
    if (receivers === undefined || receivers === 0) this.#tokens.get(token)?.(false);
    // Nobody (this instance included) is subscribed there: lost without waiting for the timeout.
    if (receivers === undefined) return undefined;
    return echoed;
  }

  #onMessage(channel: string, message: string): void {
    if (this.#probeChannels.has(channel)) {
      this.#tokens.get(message)?.(true);
      return;
    }
    this.#options.onMessage(channel, message);
  }

  // --- state ---

  #update(): void {
    const client = this.#client;
    let verified = client?.status === 'ready' && this.#shards.size > 0;
    if (verified && client) {
      for (const key of this.#masters(client)) if (this.#shards.get(key) !== true) verified = false;
    }
    if (verified === this.#verified) return;
    this.#verified = verified;
    this.#call(() => this.#options.onChange());
  }

  #unverifyAll(): void {
    for (const key of this.#shards.keys()) this.#shards.set(key, false);
    this.#update();
  }

  /** Replaces the client: every channel is subscribed again on new connections. */
  #recycle(): void {
    const old = this.#detachClient();
    old?.on('error', () => {});
    old?.disconnect();
    this.#update();
    this.start();
  }

  #detachClient(): Cluster | undefined {
    this.#generation++;
    const client = this.#client;
    this.#client = undefined;
    this.#issued.clear();
    this.#shards.clear();
    this.#lostSince.clear();
    if (!client) return undefined;
    for (const [event, listener] of Object.entries(this.#listeners)) client.off(event, listener);
    // A late 'error' from a socket being torn down must still have a listener.
    client.on('error', () => {});
    return client;
  }

  /** Waits `ms`, or less when asked to go round again or stopped. */
  #pause(ms: number, generation: number): Promise<void> {
    if (this.#again || generation !== this.#generation) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wake?.timer === timer) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#wake = { timer, resolve: done };
    });
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch {
      // The bus's callbacks report their own errors.
    }
  }
}
