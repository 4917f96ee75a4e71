import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * Where a {@link TcpProxy} sends a connection.
 *
 * @example
 * ```ts
 * const target: ProxyTarget = { host: '127.0.0.1', port: server.port };
 * ```
 */
export interface ProxyTarget {
  host: string;
  port: number;
}

/**
 * Options of {@link TcpProxy.start}: one `target`, or several `targets` served round robin.
 *
 * @example
 * ```ts
 * const single: TcpProxyOptions = { target: nodeA };
 * const balanced: TcpProxyOptions = { targets: [nodeA, nodeB] };
 * ```
 */
export type TcpProxyOptions =
  | { target: ProxyTarget; targets?: never; host?: string }
  | { targets: readonly ProxyTarget[]; target?: never; host?: string };

/** One accepted client socket and the socket it was forwarded to. */
interface Pair {
  client: Socket;
  upstream: Socket;
  /** Whether the first request on the connection asked for `Upgrade: websocket`. */
  upgrade: boolean;
  done: boolean;
}

type HeadVerdict = 'incomplete' | 'upgrade' | 'plain';

// Real request heads are far smaller; past this the bytes are forwarded as not being a WebSocket handshake.
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * A TCP proxy that a test owns, on `127.0.0.1` and a port the kernel picks, so a test can break the
 * network between a client and a server the way a real network breaks: drop every connection at
 * once, refuse new ones, move to another node, or let plain HTTP through while WebSocket fails.
 *
 * Bytes are forwarded untouched in both directions, half-closes included. The proxy only looks at
 * the head of the first request on each connection (to know which connections are WebSockets);
 * what follows on a keep-alive connection is piped raw.
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: server.port } });
 * const client = new TetherClient(proxy.url('/tether', 'ws'));
 * proxy.cut(); // the client sees a reset and has to reconnect
 * await proxy.close();
 * ```
 */
export class TcpProxy {
  readonly host: string;
  readonly port: number;
  #server: Server;
  #targets: ProxyTarget[];
  #next = 0;
  #pairs = new Set<Pair>();
  #paused = false;
  #blockUpgrades = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #total = 0;
  #refused = 0;

  private constructor(server: Server, host: string, port: number, targets: ProxyTarget[]) {
    this.#server = server;
    this.host = host;
    this.port = port;
    this.#targets = targets;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /**
   * Starts listening on a free port. With `targets`, each new connection goes to the next target in
   * turn (a non-sticky load balancer, so successive connections of one client land on different nodes).
   *
   * @example
   * ```ts
   * const lb = await TcpProxy.start({ targets: [nodeA, nodeB] });
   * ```
   */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const targets = copyTargets(options.targets ?? (options.target ? [options.target] : []));
    if (targets.length === 0) throw new RangeError('TcpProxy: give a target or at least one of targets');
    const host = options.host ?? '127.0.0.1';
    // Half-open on: a client that sends its request and then FIN must still get the reply.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new Error(`TcpProxy: unexpected listen address ${String(address)}`);
    }
    return new TcpProxy(server, host, address.port, targets);
  }

  /**
   * The proxy's address for `path`, as `http://` (default) or `ws://`.
   *
   * @example
   * ```ts
   * await fetch(proxy.url('/health'));
   * new WebSocket(proxy.url('/ws', 'ws'));
   * ```
   */
  url(path = '/', scheme: 'http' | 'ws' = 'http'): string {
    const suffix = path.startsWith('/') ? path : `/${path}`;
    return `${scheme}://${this.host}:${this.port}${suffix}`;
  }

  /**
   * Connections open through the proxy right now.
   *
   * @example
   * ```ts
   * await waitFor(() => proxy.connectionCount === 1);
   * ```
   */
  get connectionCount(): number {
    return this.#pairs.size;
  }

  /**
   * Connections accepted and forwarded since start (refused ones while paused are not counted).
   *
   * @example
   * ```ts
   * expect(proxy.totalConnections).toBe(2); // the client reconnected once
   * ```
   */
  get totalConnections(): number {
    return this.#total;
  }

  /**
   * Connections reset on arrival while paused since start: each is a reconnect attempt that failed.
   *
   * @example
   * ```ts
   * proxy.pause();
   * await waitFor(() => proxy.refusedConnections >= 3); // the client has tried and failed three times
   * proxy.resume();
   * ```
   */
  get refusedConnections(): number {
    return this.#refused;
  }

  /**
   * Drops every open connection at once, with a TCP reset on both sides, as a broken network or a
   * crashed middlebox would. The proxy keeps listening, so clients can reconnect.
   *
   * @example
   * ```ts
   * proxy.cut();
   * await waitFor(() => client.state === 'reconnecting');
   * ```
   */
  cut(): void {
    for (const pair of [...this.#pairs]) this.#drop(pair);
  }

  /**
   * Cuts every open connection and resets each new one as soon as it is accepted, until
   * {@link TcpProxy.resume}: the server looks unreachable.
   *
   * @example
   * ```ts
   * proxy.pause();
   * await waitFor(() => proxy.refusedConnections >= 2); // the client backs off and retries
   * proxy.resume();
   * ```
   */
  pause(): void {
    this.#paused = true;
    this.cut();
  }

  /**
   * Accepts and forwards new connections again after {@link TcpProxy.pause}.
   *
   * @example
   * ```ts
   * proxy.resume();
   * ```
   */
  resume(): void {
    this.#paused = false;
  }

  /**
   * Sends new connections to `target` from now on (open ones stay where they are: `cut()` them to
   * move them). Leaves round-robin mode.
   *
   * @example
   * ```ts
   * proxy.setTarget(nodeB);
   * proxy.cut();
   * ```
   */
  setTarget(target: ProxyTarget): void {
    this.setTargets([target]);
  }

  /**
   * Replaces the round-robin list; the next connection goes to its first entry.
   *
   * @example
   * ```ts
   * proxy.setTargets([nodeA, nodeC]);
   * ```
   */
  setTargets(targets: readonly ProxyTarget[]): void {
    this.#targets = copyTargets(targets);
    this.#next = 0;
  }

  /**
   * While on, a connection whose first bytes are an HTTP request with `Upgrade: websocket` is
   * reset, so WebSocket fails while plain HTTP and SSE pass. Turning it on also resets WebSocket
   * connections already open. While on, the first request head of each new connection is held
   * until complete (the upgrade must be refused before the server sees it).
   *
   * @example
   * ```ts
   * proxy.blockUpgrades(true); // the client must fall back to SSE
   * ```
   */
  blockUpgrades(on: boolean): void {
    this.#blockUpgrades = on;
    if (!on) return;
    for (const pair of [...this.#pairs]) if (pair.upgrade) this.#drop(pair);
  }

  /**
   * Stops listening and drops every open connection. Safe to call twice.
   *
   * @example
   * ```ts
   * afterEach(() => proxy.close());
   * ```
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = new Promise<void>((resolve) => {
        // The close callback reports "not running" if already closed; either way it is closed now.
        this.#server.close(() => resolve());
      });
      this.cut();
    }
    return this.#closing;
  }

  #accept(client: Socket): void {
    client.on('error', noop);
    const target = this.#targets.length > 0 ? this.#targets[this.#next++ % this.#targets.length] : undefined;
    if (this.#paused || this.#closed || !target) {
      if (this.#paused && !this.#closed) this.#refused++;
      reset(client);
      return;
    }
    this.#total++;
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.on('error', noop);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, upgrade: false, done: false };
    this.#pairs.add(pair);

    // An error on one side is passed on as a reset; a clean close lets the other side finish writing.
    const onClose = (other: Socket) => (hadError: boolean) => {
      if (hadError) this.#drop(pair);
      else if (!other.destroyed) other.end();
      if (client.destroyed && upstream.destroyed) this.#forget(pair);
    };
    client.on('close', onClose(upstream));
    upstream.on('close', onClose(client));

    upstream.pipe(client);
    this.#inspect(pair);
  }

  /** Reads the first request head to classify the connection, holding it back only while blocking. */
  #inspect(pair: Pair): void {
    const { client, upstream } = pair;
    const hold = this.#blockUpgrades;
    const chunks: Buffer[] = [];
    let size = 0;

    const finish = (verdict: Exclude<HeadVerdict, 'incomplete'>) => {
      client.off('data', onData);
      client.off('end', onEnd);
      if (pair.done) return;
      pair.upgrade = verdict === 'upgrade';
      if (pair.upgrade && this.#blockUpgrades) {
        this.#drop(pair);
        return;
      }
      if (hold) {
        upstream.write(Buffer.concat(chunks, size));
        client.pipe(upstream);
      }
      chunks.length = 0;
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const verdict = classifyHead(Buffer.concat(chunks, size));
      if (verdict !== 'incomplete') finish(verdict);
    };
    // A client that half-closes before a full head is not sending a WebSocket handshake.
    const onEnd = () => {
      finish('plain');
      if (hold) upstream.end();
    };

    client.on('data', onData);
    client.on('end', onEnd);
    if (!hold) client.pipe(upstream);
    client.resume();
  }

  #drop(pair: Pair): void {
    if (pair.done) return;
    pair.done = true;
    this.#pairs.delete(pair);
    reset(pair.client);
    reset(pair.upstream);
  }

  #forget(pair: Pair): void {
    pair.done = true;
    this.#pairs.delete(pair);
  }
}

function noop(): void {}

function copyTargets(targets: readonly ProxyTarget[]): ProxyTarget[] {
  return targets.map(({ host, port }) => ({ host, port }));
}

/** Destroys with a TCP RST rather than a FIN, so the peer sees a reset as on a real network failure. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // resetAndDestroy throws on a socket without a TCP handle (already closing); destroy still works.
    socket.destroy();
  }
}

/**
 * Decides from the bytes received so far whether a connection opens with a WebSocket handshake.
 * Anything that does not start like an HTTP request line is `plain` at once, so non-HTTP protocols
 * are never held back.
 */
function classifyHead(head: Buffer): HeadVerdict {
  const start = head.subarray(0, 24).toString('latin1');
  const method = /^[A-Z-]{1,20}(?= |$)/.exec(start);
  if (!method) return 'plain';
  if (method[0].length === start.length) return 'incomplete';
  const end = head.indexOf(HEAD_END);
  if (end === -1) return head.length > MAX_HEAD_BYTES ? 'plain' : 'incomplete';
  const lines = head.subarray(0, end).toString('latin1').split('\r\n');
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon === -1 || line.slice(0, colon).trim().toLowerCase() !== 'upgrade') continue;
    const protocols = line.slice(colon + 1).split(',');
    if (protocols.some((p) => p.trim().toLowerCase().startsWith('websocket'))) return 'upgrade';
  }
  return 'plain';
}
