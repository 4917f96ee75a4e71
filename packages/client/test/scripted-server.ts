import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

/** A message as the scripted server reads it: the wire object, loosely typed for assertions. */
export type Wire = { t: string; [field: string]: unknown };

/**
 * One client connection to the scripted server: what the client sent, in order, and ways to
 * answer by hand. Waits are on messages, never on time.
 */
export class ScriptedSocket {
  readonly received: Wire[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #socket: WebSocket;
  #taken = new Set<number>();
  #waiters: Array<() => void> = [];

  constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('message', (data) => {
      this.received.push(JSON.parse(data.toString()) as Wire);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** The next message of type `t` not taken yet (the oldest first). */
  async next(t: string): Promise<Wire> {
    for (;;) {
      const index = this.received.findIndex((m, i) => m.t === t && !this.#taken.has(i));
      if (index >= 0) {
        this.#taken.add(index);
        return this.received[index]!;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Every message of type `t` received so far. */
  all(t: string): Wire[] {
    return this.received.filter((m) => m.t === t);
  }

  send(message: Wire): void {
    this.#socket.send(JSON.stringify(message));
  }

  /** Waits for `hello` and answers `welcome`. */
  async welcome(extra: Partial<Wire> = {}): Promise<Wire> {
    const hello = await this.next('hello');
    this.send({
      t: 'welcome',
      sid: 'sid-1',
      sk: 'sk-1',
      cid: 'cid-1',
      rs: 0,
      hb: [60_000, 60_000],
      mp: 1_048_576,
      ...extra,
    });
    return hello;
  }

  close(code: number, reason = ''): void {
    this.#socket.close(code, reason);
  }

  /** Cuts the TCP connection without a close frame (the client sees 1006). */
  cut(): void {
    this.#socket.terminate();
  }
}

/**
 * A tiny Tether server on 127.0.0.1:0 that speaks the wire protocol by hand: each test scripts
 * its replies, so one case pins one client behaviour over a real socket.
 *
 * @example
 * const server = await ScriptedServer.start();
 * const client = new TetherClient(server.url, { transports: ['websocket'] });
 * const socket = await server.nextConnection();
 * await socket.welcome();
 */
export class ScriptedServer {
  readonly url: string;
  /** Every connection so far, oldest first. */
  readonly connections: ScriptedSocket[] = [];
  /** Upgrades seen, refused ones included. */
  upgrades = 0;
  /** The request URL of every upgrade, in order. */
  readonly urls: string[] = [];
  /** When set, upgrades are refused with this HTTP status. */
  refuseWith: number | undefined;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #waiters: Array<() => void> = [];

  private constructor(http: Server, wss: WebSocketServer) {
    this.#http = http;
    this.#wss = wss;
    this.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`;
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrades++;
      this.urls.push(req.url ?? '');
      // A refused client may reset the socket while the answer is on its way; that is not a
      // failure of the test, and an unhandled 'error' would crash the test process.
      socket.on('error', () => {});
      if (this.refuseWith !== undefined) {
        const body = JSON.stringify({ error: { code: 'REFUSED', message: `refused ${this.refuseWith}` } });
        socket.end(
          `HTTP/1.1 ${this.refuseWith} Refused\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
        this.#wake();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.connections.push(new ScriptedSocket(ws));
        this.#wake();
      });
    });
  }

  static async start(): Promise<ScriptedServer> {
    const http = createServer((_req, res) => res.writeHead(404).end());
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has('tether.v1.json') ? 'tether.v1.json' : false),
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new ScriptedServer(http, wss);
  }

  /** The connection number `index` (0-based), once it exists. */
  async connection(index: number): Promise<ScriptedSocket> {
    await this.until(() => this.connections.length > index);
    return this.connections[index]!;
  }

  /** The next connection after those seen so far. */
  nextConnection(): Promise<ScriptedSocket> {
    return this.connection(this.connections.length);
  }

  /** Resolves once `check` holds, re-checked on every upgrade. */
  async until(check: () => boolean): Promise<void> {
    while (!check()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Resolves with the next value an `on(event)` subscription gets. */
export function once<T>(subscribe: (listener: (value: T) => void) => () => void): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((value) => {
      off();
      resolve(value);
    });
  });
}
