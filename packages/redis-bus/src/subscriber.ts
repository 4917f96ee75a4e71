import { type Client, closeRedis } from './connection.js';

/**
 * The subscriber side of a RedisBus, whatever the topology: the channels the bus wants, and
 * whether delivery on them is proven. {@link Subscriber} serves one Redis; `ShardedSubscriber`
 * (sharded-subscriber.ts) serves a Redis Cluster.
 */
export interface ChannelSubscriber {
  /** True once the current connections' subscriptions were proven to deliver. */
  readonly verified: boolean;
  /** Opens the connection(s) (once). */
  start(): void;
  /** Wants `channel`; subscribes now when connected, or at the next (re)connection. */
  add(channel: string): Promise<void>;
  /** No longer wants `channel`. */
  remove(channel: string): Promise<void>;
  /** Proves delivery after a (re)connection; does nothing when already verified or busy. */
  verify(): Promise<void>;
  /** One round of probes while verified (called by the bus's heartbeat). */
  check(): Promise<void>;
  /** Closes the connection(s) and forgets every channel. */
  stop(): Promise<void>;
}

/** What a {@link Subscriber} needs from its bus. */
export interface SubscriberOptions {
  /** A new, not yet connected client with RedisBus's fail-fast settings. */
  create: () => Client;
  /** This bus instance's own channel, used for delivery probes only. */
  probeChannel: string;
  /** How long a probe may take to come back before the subscription counts as broken. */
  probeTimeoutMs: number;
  /** PUBLISHes a probe over the command connection; resolves false when that is not possible now. */
  publishProbe: (channel: string, token: string) => Promise<boolean>;
  /** Every message of every other channel. */
  onMessage: (channel: string, message: string) => void;
  /** `verified` changed. */
  onChange: () => void;
}

/** Probes sent per (re)connection before the connection is recycled. */
const PROBE_ATTEMPTS = 5;
/** Channels per SUBSCRIBE command when resubscribing, to keep each command a sane size. */
const SUBSCRIBE_CHUNK = 500;

/**
 * The subscriber connection of a RedisBus and the set of channels it should be subscribed to.
 *
 * ioredis's own automatic resubscription is off: after every (re)connection this class
 * subscribes the wanted channels itself, then proves the path works end to end by publishing a
 * probe on its own channel over the command connection and waiting for it to come back. Only
 * then is the subscription `verified` (and the bus `up`). While verified, {@link check} repeats
 * the probe now and then; a probe that does not come back recycles the connection.
 *
 * @example
 * const sub = new Subscriber({ create, probeChannel, probeTimeoutMs: 2000, publishProbe, onMessage, onChange });
 * sub.start();
 * await sub.add('tether:{order:42}:ch');
 */
export class Subscriber implements ChannelSubscriber {
  readonly #options: SubscriberOptions;
  readonly #channels = new Set<string>();
  readonly #probes = new Map<string, (echoed: boolean) => void>();
  #redis: Client | undefined;
  #verified = false;
  /** Incremented on every (re)connection and on stop: work of an older generation stops. */
  #generation = 0;
  /** The generation whose resubscription is complete. */
  #subscribed = -1;
  #verifying = false;
  #probeSeq = 0;
  readonly #listeners = {
    ready: () => void this.#resubscribe(),
    close: () => this.#setVerified(false),
    error: () => {
      // Reported through `verified` and the bus status; ioredis reconnects by itself.
    },
    message: (channel: string, message: string) => this.#onMessage(channel, message),
  };

  constructor(options: SubscriberOptions) {
    this.#options = options;
    this.#channels.add(options.probeChannel);
  }

  /** True once the current connection's subscriptions were proven to deliver. */
  get verified(): boolean {
    return this.#verified;
  }

  /** Opens the connection (once). */
  start(): void {
    if (this.#redis) return;
    const redis = this.#options.create();
    for (const [event, listener] of Object.entries(this.#listeners)) redis.on(event, listener);
    this.#redis = redis;
    redis.connect().catch(() => {
      // The first attempt failed: ioredis keeps retrying, and `ready` resubscribes.
    });
  }

  /** Wants `channel`; subscribes now when connected, or at the next (re)connection. */
  async add(channel: string): Promise<void> {
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    const redis = this.#redis;
    // SUBSCRIBE is idempotent, so racing a resubscription in flight is harmless.
    if (redis?.status === 'ready') await redis.subscribe(channel).catch(() => {});
  }

  /** No longer wants `channel`. */
  async remove(channel: string): Promise<void> {
    if (channel === this.#options.probeChannel || !this.#channels.delete(channel)) return;
    const redis = this.#redis;
    if (redis?.status === 'ready') await redis.unsubscribe(channel).catch(() => {});
  }

  /**
   * Proves the subscriptions deliver (after a reconnection of either connection). Does nothing
   * when already verified, when a verification is running, or while resubscribing.
   */
  async verify(): Promise<void> {
    const generation = this.#generation;
    if (this.#verified || this.#verifying || this.#subscribed !== generation) return;
    this.#verifying = true;
    try {
      for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
        if (generation !== this.#generation || this.#redis?.status !== 'ready') return;
        const echoed = await this.#probe();
        // undefined: the command connection is down; its `ready` calls verify() again.
        if (echoed === undefined) return;
        if (generation !== this.#generation) return;
        if (echoed) {
          this.#setVerified(true);
          return;
        }
      }
      // Connected and subscribed, yet nothing comes back: start over with a new connection.
      this.#redis?.disconnect(true);
    } finally {
      this.#verifying = false;
    }
  }

  /** One probe while verified; a lost probe marks the subscription broken and reconnects it. */
  async check(): Promise<void> {
    if (!this.#verified) return this.verify();
    if (this.#verifying) return;
    const generation = this.#generation;
    this.#verifying = true;
    try {
      const echoed = await this.#probe();
      if (echoed === false && generation === this.#generation && this.#verified) {
        this.#setVerified(false);
        this.#redis?.disconnect(true);
      }
    } finally {
      this.#verifying = false;
    }
  }

  /** Closes the connection and forgets every channel. */
  async stop(): Promise<void> {
    this.#generation++;
    this.#verified = false;
    for (const settle of this.#probes.values()) settle(false);
    this.#probes.clear();
    this.#channels.clear();
    this.#channels.add(this.#options.probeChannel);
    const redis = this.#redis;
    this.#redis = undefined;
    if (!redis) return;
    for (const [event, listener] of Object.entries(this.#listeners)) redis.off(event, listener);
    // A late 'error' from a socket being torn down must still have a listener.
    redis.on('error', () => {});
    await closeRedis(redis);
  }

  async #resubscribe(): Promise<void> {
    const generation = ++this.#generation;
    this.#setVerified(false);
    const redis = this.#redis;
    if (!redis) return;
    const channels = [...this.#channels];
    try {
      for (let i = 0; i < channels.length; i += SUBSCRIBE_CHUNK) {
        await redis.subscribe(...channels.slice(i, i + SUBSCRIBE_CHUNK));
      }
    } catch {
      return; // the connection dropped again; the next 'ready' starts over
    }
    if (generation !== this.#generation) return;
    this.#subscribed = generation;
    await this.verify();
  }

  /** true: came back; false: sent but lost; undefined: could not be sent. */
  async #probe(): Promise<boolean | undefined> {
    const token = `${this.#generation}.${++this.#probeSeq}`;
    const echoed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => settle(false), this.#options.probeTimeoutMs);
      timer.unref();
      const settle = (value: boolean) => {
        clearTimeout(timer);
        this.#probes.delete(token);
        resolve(value);
      };
      this.#probes.set(token, settle);
    });
    const sent = await this.#options.publishProbe(this.#options.probeChannel, token).catch(() => false);
    if (!sent) {
      this.#probes.get(token)?.(false);
      return undefined;
    }
    return echoed;
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#options.probeChannel) {
      this.#probes.get(message)?.(true);
      return;
    }
    this.#options.onMessage(channel, message);
  }

  #setVerified(verified: boolean): void {
    if (this.#verified === verified) return;
    this.#verified = verified;
    this.#options.onChange();
  }
}
