import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient, type TetherClientOptions } from '@tether/client';
import {
  type Connection,
  type EventMap,
  TetherServer,
  type TetherServerOptions,
  type UnknownEvents,
} from '@tether/server';
import { FaultProxy } from './fault-proxy.js';
import { waitForState } from './wait-for.js';

/**
 * Options of {@link createTestPair}.
 *
 * @example
 * ```ts
 * const options: TestPairOptions = {
 *   server: { authorizeJoin: () => true },
 *   setup: (tether) => tether.on('connection', (conn) => conn.on('ping', () => 'pong')),
 * };
 * ```
 */
export interface TestPairOptions<E extends EventMap = UnknownEvents, Data = unknown> {
  /** Options of the `TetherServer`, exactly as in your app (`server` is the pair's own http server). */
  server?: Omit<TetherServerOptions<E, Data>, 'server'>;
  /**
   * Options of every client the pair makes, over the pair's defaults: reconnect after 20 ms
   * (backing off to 250 ms) and a 2 s connect timeout, so faults heal quickly in tests.
   */
  client?: TetherClientOptions;
  /** Runs before the first client connects: attach your handlers to the server here. A promise it returns is awaited. */
  setup?: (tether: TetherServer<E, Data>) => unknown;
  /** Handles HTTP requests outside the Tether path. Default: 404. */
  app?: RequestListener;
  /** Make the first client (`pair.client`) and wait until it is open. Default true. */
  connect?: boolean;
}

/**
 * Options of {@link TestPair.newClient}: a client's options, and whether it bypasses the proxy.
 *
 * @example
 * ```ts
 * const observer = pair.newClient({ direct: true }); // no network fault reaches it
 * ```
 */
export interface TestClientOptions extends TetherClientOptions {
  /** Connect straight to the server, not through the fault proxy. Default false. */
  direct?: boolean;
}

/**
 * What {@link createTestPair} returns: a real server and real clients in this process, with a
 * fault proxy between them.
 *
 * @example
 * ```ts
 * const pair = await createTestPair();
 * pair.network.cut();
 * await pair.close();
 * ```
 */
export interface TestPair<E extends EventMap = UnknownEvents, Data = unknown> {
  /** The Node http server the Tether server is attached to, on `127.0.0.1` and a free port. */
  readonly http: Server;
  /** The server under test. */
  readonly tether: TetherServer<E, Data>;
  /** The first client, open (unless `connect: false`, then this throws). */
  readonly client: TetherClient<E>;
  /** Every client made so far, the first one included. */
  readonly clients: readonly TetherClient<E>[];
  /** The Tether endpoint through the fault proxy: what the pair's clients use. */
  readonly url: string;
  /** The Tether endpoint on the server itself, past the proxy. */
  readonly directUrl: string;
  /** The network between the clients and the server: `cut()`, `pause()`, `refuse()`, `resume()`. */
  readonly network: FaultProxy;
  /** Makes one more client (not awaited: use `waitForState(client, 'open')`). Closed by `close()`. */
  newClient(options?: TestClientOptions): TetherClient<E>;
  /** The server's `Connection` of a client that is open now. Throws if there is none. */
  connectionOf(client: TetherClient<E>): Connection<E, Data>;
  /**
   * Closes the clients, the server, the proxy and the http server; no socket or server stays open
   * (`tether.close()` itself may leave one timer of at most a second running after it resolves).
   */
  close(): Promise<void>;
}

const CLIENT_DEFAULTS: TetherClientOptions = {
  reconnect: { initialDelay: 20, maxDelay: 250 },
  connectTimeout: 2_000,
};

/**
 * Starts a `TetherServer` on a real http server (`127.0.0.1`, a port the kernel picks), a
 * {@link FaultProxy} in front of it, and a `TetherClient` connected through the proxy. Your
 * handlers go in `setup`, which runs before the client connects. `close()` releases everything.
 *
 * Tested under vitest and `node:test`; nothing in it depends on the runner.
 *
 * @example
 * ```ts
 * const pair = await createTestPair({
 *   server: { authorizeJoin: (_conn, room) => room.startsWith('chat:') },
 *   setup: (tether) => tether.on('connection', (conn) => conn.on('ping', () => 'pong')),
 * });
 * expect(await pair.client.request('ping')).toBe('pong');
 * await pair.close();
 * ```
 */
export async function createTestPair<E extends EventMap = UnknownEvents, Data = unknown>(
  options: TestPairOptions<E, Data> = {},
): Promise<TestPair<E, Data>> {
  const http = createServer(options.app ?? notFound);
  const tether = new TetherServer<E, Data>({ ...options.server, server: http });
  let network: FaultProxy | undefined;
  try {
    await listen(http);
    const { port } = http.address() as AddressInfo;
    network = await FaultProxy.start({ host: '127.0.0.1', port });
    await options.setup?.(tether);
  } catch (error) {
    await shutDown(tether, http, network);
    throw error;
  }
  const pair = new Pair<E, Data>(http, tether, network, tether.options.path, options.client);
  if (options.connect !== false) {
    const client = pair.newClient();
    try {
      await waitForState(client, 'open', 'the first client to open');
    } catch (error) {
      await pair.close();
      throw error;
    }
  }
  return pair;
}

class Pair<E extends EventMap, Data> implements TestPair<E, Data> {
  readonly http: Server;
  readonly tether: TetherServer<E, Data>;
  readonly network: FaultProxy;
  readonly url: string;
  readonly directUrl: string;
  readonly #clients: TetherClient<E>[] = [];
  readonly #clientOptions: TetherClientOptions | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    http: Server,
    tether: TetherServer<E, Data>,
    network: FaultProxy,
    path: string,
    clientOptions: TetherClientOptions | undefined,
  ) {
    this.http = http;
    this.tether = tether;
    this.network = network;
    this.#clientOptions = clientOptions;
    const { port } = http.address() as AddressInfo;
    this.url = network.url(path);
    this.directUrl = `http://127.0.0.1:${port}${path}`;
  }

  get client(): TetherClient<E> {
    const first = this.#clients[0];
    if (!first) throw new Error('this pair was made with `connect: false`: make a client with newClient()');
    return first;
  }

  get clients(): readonly TetherClient<E>[] {
    return this.#clients;
  }

  newClient(options: TestClientOptions = {}): TetherClient<E> {
    if (this.#closing) throw new Error('this pair is closed');
    const { direct, ...own } = options;
    const client = new TetherClient<E>(direct ? this.directUrl : this.url, {
      ...CLIENT_DEFAULTS,
      ...this.#clientOptions,
      ...own,
    });
    this.#clients.push(client);
    return client;
  }

  connectionOf(client: TetherClient<E>): Connection<E, Data> {
    const id = client.connectionId;
    const conn = id === undefined ? undefined : this.tether.connections.get(id);
    if (!conn) throw new Error(`no open server connection for this client (client state "${client.state}")`);
    return conn;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const client of this.#clients) client.close();
      await shutDown(this.tether, this.http, this.network);
    })();
    return this.#closing;
  }
}

async function shutDown<E extends EventMap, Data>(
  tether: TetherServer<E, Data>,
  http: Server,
  network?: FaultProxy,
): Promise<void> {
  await tether.close();
  await network?.close();
  // Keep-alive sockets of the app's own requests would hold `close` open.
  http.closeAllConnections();
  if (http.listening) await new Promise<void>((resolve) => http.close(() => resolve()));
}

function listen(http: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
}

const notFound: RequestListener = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
};
