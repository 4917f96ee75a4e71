import pg from 'pg';

/** What {@link WakeListener} reports. */
export interface WakeHandlers {
  /** A `pg_notify` payload arrived on the channel (a user key). */
  onWake(userId: string): void;
  /** LISTEN is in place again after the connection was lost: wakeups in between may be missing. */
  onRelisten(): void;
  onError(error: Error): void;
}

/**
 * One dedicated connection that LISTENs on the inbox channel. A pooled connection cannot hold
 * LISTEN (the pool hands it to others), so this one is its own `pg.Client`. When it drops (server
 * restart, `pg_terminate_backend`, network), it reconnects with capped backoff on one owned timer
 * and LISTENs again, then reports `onRelisten` so the caller can catch up.
 *
 * @example
 * ```ts
 * const listener = new WakeListener({ connectionString }, 'tether.inbox', handlers);
 * await listener.start();
 * await listener.stop();
 * ```
 */
export class WakeListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #handlers: WakeHandlers;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  /** Ignores events of a client this listener has already replaced. */
  #generation = 0;

  constructor(config: pg.ClientConfig, channel: string, handlers: WakeHandlers) {
    this.#config = config;
    this.#channel = channel;
    this.#handlers = handlers;
  }

  /** The backend process id of the listening connection (for operations and tests), if connected. */
  get backendPid(): number | undefined {
    const client = this.#client as (pg.Client & { processID?: number }) | undefined;
    return client?.processID;
  }

  /** Connects and LISTENs; rejects if the first attempt fails (later drops are retried). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#generation += 1;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const generation = ++this.#generation;
    const client = new pg.Client(this.#config);
    const lost = (error?: Error) => {
      if (generation !== this.#generation || this.#stopped) return;
      this.#generation += 1;
      this.#client = undefined;
      client.end().catch(() => undefined);
      if (error !== undefined) this.#handlers.onError(error);
      this.#schedule();
    };
    client.on('error', (error) => lost(error));
    client.on('end', () => lost(new Error('inbox LISTEN connection ended')));
    client.on('notification', (message) => {
      if (generation !== this.#generation || message.channel !== this.#channel) return;
      if (message.payload !== undefined) this.#handlers.onWake(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel.replaceAll('"', '""')}"`);
    } catch (error) {
      if (generation === this.#generation) this.#generation += 1;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#stopped || generation !== this.#generation) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#failures = 0;
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    // 100 ms, 200 ms, ... capped at 5 s: back quickly after a blip, gently during an outage.
    const delayMs = Math.min(5000, 100 * 2 ** this.#failures);
    this.#failures += 1;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect().then(
        () => {
          if (!this.#stopped) this.#handlers.onRelisten();
        },
        (error: unknown) => {
          if (this.#stopped) return;
          this.#handlers.onError(error instanceof Error ? error : new Error(String(error)));
          this.#schedule();
        },
      );
    }, delayMs);
    this.#timer.unref();
  }
}
