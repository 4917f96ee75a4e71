import { CloseCode, type Codec, type Frame } from '@tether/protocol';
import type { ClientEnvironment } from './client-options.js';
import type { ClientTransport, ClientTransportEvents, TransportKind } from './transports/transport.js';

/** Attempts at the next connection per move; after them the ordinary reconnect takes over. */
const MAX_ATTEMPTS = 10;

/**
 * Wait before the second attempt, doubled for each one after up to `MAX_RETRY_MS` (the first
 * goes at once), in ms: ten attempts take under 2 s, the server's grace for a move.
 */
const RETRY_MS = 50;
const MAX_RETRY_MS = 250;

/** How the client connects: the same for a move as for any connect. */
export interface HandoffSettings {
  readonly url: string;
  readonly codec: Codec;
  /**
   * Reads the client's `auth` option for one connect (its credentials go in the hello); undefined
   * when the client has none. Passed in, not imported, so the core bundle keeps that code.
   */
  readonly credentials: (() => Promise<unknown>) | undefined;
  /** Time one attempt gets to be welcomed, in ms (the client's `connectTimeout`). */
  readonly connectTimeout: number;
}

/** What a move needs to know of the client and asks of it. */
export interface HandoffHost {
  /** The kind of the transport in use: the next connection takes the same. */
  kind(): TransportKind | undefined;
  /** The `hello` a new connection sends (session, positions of server-joined rooms, credentials). */
  hello(credentials: unknown): Frame;
  /** The client's current connection (`connectionId`); undefined while it has none. */
  connectionId(): string | undefined;
  /** The new connection was welcomed: it becomes the client's; returns where its events go from now on. */
  promote(transport: ClientTransport, kind: TransportKind): ClientTransportEvents;
}

/**
 * Make before break when a server drains. A `bye` with `mv: 1` asks the client to move now: this
 * opens its next connection (the load balancer sends it to another node; the draining one
 * refuses it with 503) while the current one goes on delivering, and on the new connection's
 * `welcome` hands it to the client, which closes the old one (1001), rejoins its rooms from their
 * positions and resends its pending requests. The switch loses nothing: room messages flow on the
 * old connection up to the moment the rejoins leave on the new one.
 *
 * A refused or silent attempt is retried after 50, 100, 200, then every 250 ms, 10 attempts at
 * most. If the client is on another connection than the one the move started from by the time an
 * attempt is welcomed (it dropped and reconnected by itself meanwhile), that attempt is closed
 * unused.
 *
 * @example
 * const handoff = new Handoff(env, { url, codec, credentials, connectTimeout }, host);
 * handoff.start(); // on `bye` with `mv: 1`
 * handoff.cancel(); // on `client.close()`
 */
export class Handoff {
  readonly #env: ClientEnvironment;
  readonly #settings: HandoffSettings;
  readonly #host: HandoffHost;
  /** The connection the move started from. */
  #from: string | undefined;
  #active = false;
  #attempt = 0;
  /** The attempt under way, until it is welcomed or fails. */
  #transport: ClientTransport | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(env: ClientEnvironment, settings: HandoffSettings, host: HandoffHost) {
    this.#env = env;
    this.#settings = settings;
    this.#host = host;
  }

  /** True while a move is under way. */
  get active(): boolean {
    return this.#active;
  }

  /** Begins a move, unless one is under way or the client has no connection to move from. */
  start(): void {
    const kind = this.#host.kind();
    const from = this.#host.connectionId();
    if (this.#active || !kind || from === undefined) return;
    this.#active = true;
    this.#from = from;
    this.#attempt = 0;
    void this.#open(kind);
  }

  /** Ends the move: the attempt under way is closed, nothing is retried. */
  cancel(): void {
    this.#active = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const transport = this.#transport;
    this.#transport = undefined;
    // 1001, not 1000: a close of ours never ends the session on the server.
    transport?.close(CloseCode.GoingAway, 'move abandoned');
  }

  async #open(kind: TransportKind): Promise<void> {
    let credentials: unknown;
    try {
      credentials = await this.#settings.credentials?.();
    } catch {
      // auth() failing is reported by the ordinary reconnect, which meets it too.
      this.cancel();
      return;
    }
    if (!this.#active) return;
    let promoted: ClientTransportEvents | undefined;
    const transport: ClientTransport = this.#env.transports[kind]!({
      url: this.#settings.url,
      codec: this.#settings.codec,
      authInHello: this.#settings.credentials !== undefined,
      events: {
        onOpen: () => {
          if (this.#transport === transport) transport.send(this.#host.hello(credentials));
        },
        onFrame: (frame) => {
          if (promoted) promoted.onFrame(frame);
          // The server's first frame is its welcome: switch, then let the client read it.
          else if (this.#transport === transport && this.#stillMoving()) {
            this.#transport = undefined;
            this.#active = false;
            clearTimeout(this.#timer);
            promoted = this.#host.promote(transport, kind);
            promoted.onFrame(frame);
          }
        },
        onClose: (code, reason, status) => {
          if (promoted) promoted.onClose(code, reason, status);
          else if (this.#transport === transport) this.#failed(kind);
        },
      },
    });
    this.#transport = transport;
    this.#timer = setTimeout(() => {
      if (this.#transport !== transport) return;
      transport.close(CloseCode.GoingAway, 'connect timeout');
      this.#failed(kind);
    }, this.#settings.connectTimeout);
  }

  /** The client is still on the connection the move started from, or on none (it dropped since). */
  #stillMoving(): boolean {
    const current = this.#host.connectionId();
    if (current === undefined || current === this.#from) return true;
    this.cancel();
    return false;
  }

  #failed(kind: TransportKind): void {
    this.#transport = undefined;
    clearTimeout(this.#timer);
    if (!this.#active) return;
    if (++this.#attempt >= MAX_ATTEMPTS || !this.#stillMoving()) {
      this.cancel();
      return;
    }
    const wait = Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** (this.#attempt - 1));
    this.#timer = setTimeout(() => void this.#open(kind), wait);
  }
}
