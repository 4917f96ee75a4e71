import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What the network between clients and server does right now: `'open'` forwards bytes,
 * `'paused'` holds every byte without closing anything, `'refusing'` resets new connections.
 *
 * @example
 * ```ts
 * if (pair.network.mode !== 'open') pair.network.resume();
 * ```
 */
export type NetworkMode = 'open' | 'paused' | 'refusing';

/**
 * A TCP proxy on `127.0.0.1` that a test puts between Tether clients and the server, to break
 * the network the ways real networks break. Bytes pass untouched in both directions; only the
 * faults differ:
 *
 * - {@link FaultProxy.cut}: every open connection is reset at once (a crashed middlebox, a
 *   dropped Wi-Fi). Clients see the drop at once and reconnect.
 * - {@link FaultProxy.pause}: nothing is closed, but no byte gets through, in either direction,
 *   on open or new connections (a frozen NAT entry, a half-open TCP stream). Only heartbeats can
 *   tell: this is the fault that tests them.
 * - {@link FaultProxy.refuse}: new connections are reset as soon as they arrive; open ones carry
 *   on (a server that is down while the old sockets linger). With a cut, the server looks gone.
 * - {@link FaultProxy.resume}: back to normal; bytes held by a pause flow again.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start({ host: '127.0.0.1', port: 8080 });
 * const client = new TetherClient(proxy.url('/tether'));
 * proxy.cut(); // the client reconnects, through the proxy again
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  /** Always `127.0.0.1`. */
  readonly host = '127.0.0.1';
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #links = new Set<Link>();
  #mode: NetworkMode = 'open';
  #accepted = 0;
  #refused = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (socket) => this.#onConnection(socket));
  }

  /**
   * Listens on a port the kernel picks and forwards every connection to `target`.
   *
   * @example
   * ```ts
   * const proxy = await FaultProxy.start({ host: '127.0.0.1', port: serverPort });
   * ```
   */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    // Half-open allowed: a side that finished sending may still be waiting for the other's reply.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new FaultProxy(server, { host: target.host, port: target.port });
  }

  /**
   * The port clients connect to.
   *
   * @example
   * ```ts
   * const url = `http://127.0.0.1:${proxy.port}/tether`;
   * ```
   */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /**
   * The proxy's address for `path`, e.g. `http://127.0.0.1:41234/tether`.
   *
   * @example
   * ```ts
   * new TetherClient(proxy.url('/tether'));
   * ```
   */
  url(path = '/', scheme: 'http' | 'ws' = 'http'): string {
    return `${scheme}://${this.host}:${this.port}${path.startsWith('/') ? path : `/${path}`}`;
  }

  /**
   * The current fault, or `'open'`.
   *
   * @example
   * ```ts
   * expect(proxy.mode).toBe('open');
   * ```
   */
  get mode(): NetworkMode {
    return this.#mode;
  }

  /**
   * Connections open through the proxy right now (held ones included).
   *
   * @example
   * ```ts
   * await waitFor(() => proxy.connectionCount === 0, 'every connection gone');
   * ```
   */
  get connectionCount(): number {
    return this.#links.size;
  }

  /**
   * Connections forwarded since start; a client that reconnected once counts 2.
   *
   * @example
   * ```ts
   * expect(proxy.acceptedConnections).toBeGreaterThan(1);
   * ```
   */
  get acceptedConnections(): number {
    return this.#accepted;
  }

  /**
   * Connections reset on arrival by {@link FaultProxy.refuse}: the client's failed attempts.
   *
   * @example
   * ```ts
   * await waitFor(() => proxy.refusedConnections >= 2, 'two refused reconnect attempts');
   * ```
   */
  get refusedConnections(): number {
    return this.#refused;
  }

  /**
   * Resets every open connection (TCP RST both ways) and returns how many there were. The proxy
   * keeps its mode: after a cut in `'open'` mode, clients reconnect at once.
   *
   * @example
   * ```ts
   * pair.network.cut();
   * await waitForState(pair.client, 'reconnecting');
   * ```
   */
  cut(): number {
    const links = [...this.#links];
    for (const link of links) link.reset();
    return links.length;
  }

  /**
   * Holds every byte, on open connections and on new ones, until {@link FaultProxy.resume}.
   * Nothing is closed, so neither side learns of it except by its heartbeat.
   *
   * @example
   * ```ts
   * pair.network.pause();
   * await waitForState(pair.client, 'reconnecting', { timeout: 3000 }); // the heartbeat noticed
   * ```
   */
  pause(): void {
    this.#mode = 'paused';
    for (const link of this.#links) link.hold();
  }

  /**
   * Resets each new connection as it arrives, until {@link FaultProxy.resume}; open connections
   * carry on (call {@link FaultProxy.cut} as well to make the server look gone).
   *
   * @example
   * ```ts
   * pair.network.refuse();
   * pair.network.cut(); // reconnect attempts now fail until resume()
   * ```
   */
  refuse(): void {
    if (this.#mode === 'paused') for (const link of this.#links) link.release();
    this.#mode = 'refusing';
  }

  /**
   * Ends a pause or a refusal: new connections are forwarded, held bytes flow again.
   *
   * @example
   * ```ts
   * pair.network.resume();
   * await waitForState(pair.client, 'open');
   * ```
   */
  resume(): void {
    this.#mode = 'open';
    for (const link of this.#links) link.release();
  }

  /**
   * Stops listening and resets every connection. Safe to call more than once.
   *
   * @example
   * ```ts
   * await proxy.close();
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.cut();
    });
    return this.#closing;
  }

  #onConnection(socket: Socket): void {
    socket.on('error', ignore);
    if (this.#closing || this.#mode === 'refusing') {
      if (!this.#closing) this.#refused++;
      resetSocket(socket);
      return;
    }
    this.#accepted++;
    const upstream = connect({ ...this.#target, allowHalfOpen: true });
    upstream.on('error', ignore);
    const link = new Link(socket, upstream, () => this.#links.delete(link));
    this.#links.add(link);
    if (this.#mode === 'paused') link.hold();
    else link.release();
  }
}

/**
 * One client connection and the connection to the server it is forwarded to. Bytes are copied
 * by hand rather than piped, because a pipe resumes its source on `drain` by itself, which
 * would undo a hold.
 */
class Link {
  readonly #down: Socket;
  readonly #up: Socket;
  #held = false;
  #gone = false;

  constructor(down: Socket, up: Socket, onGone: () => void) {
    this.#down = down;
    this.#up = up;
    down.setNoDelay(true);
    up.setNoDelay(true);
    this.#copy(down, up);
    this.#copy(up, down);
    const onClose = (hadError: boolean, other: Socket) => {
      // A reset on one side becomes a reset on the other: a broken path breaks both ways.
      if (hadError) resetSocket(other);
      if (down.destroyed && up.destroyed && !this.#gone) {
        this.#gone = true;
        onGone();
      }
    };
    down.on('close', (hadError) => onClose(hadError, up));
    up.on('close', (hadError) => onClose(hadError, down));
  }

  hold(): void {
    this.#held = true;
    this.#down.pause();
    this.#up.pause();
  }

  release(): void {
    this.#held = false;
    this.#down.resume();
    this.#up.resume();
  }

  reset(): void {
    resetSocket(this.#down);
    resetSocket(this.#up);
  }

  #copy(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.#held) from.resume();
    });
    from.on('end', () => to.end());
  }
}

function ignore(): void {}

/** Closes with a TCP RST rather than a FIN, as a failing network does. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // A socket still connecting has no TCP handle to reset yet; a plain destroy closes it.
    socket.destroy();
  }
}
