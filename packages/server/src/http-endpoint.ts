import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { QUERY } from '@tether/protocol';
import type { Handshake } from './handshake.js';

/** What admission and `authenticate` made of a request: the connection's data, or the HTTP refusal. */
export type Authenticated =
  | { ok: true; data: unknown }
  | { ok: false; status: number; code: string; message: string };

type AnyServer = HttpServer | HttpsServer;
type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The path of a request URL, without its query. */
export function pathnameOf(url: string | undefined): string {
  if (!url) return '/';
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}

/** What the app may inspect of the request that opened a connection (and what limits key on). */
export function handshakeOf(req: IncomingMessage): Handshake {
  return { headers: req.headers, url: req.url ?? '/', address: req.socket.remoteAddress };
}

/** True when the URL's path is `path` or below it (`/tether`, `/tether/events`, not `/tetherx`). */
export function isUnderPath(url: string | undefined, path: string): boolean {
  if (!url) return false;
  const pathname = pathnameOf(url);
  if (path === '/') return true;
  return pathname === path || pathname.startsWith(`${path}/`);
}

/** The body of every error response: a stable code and a message. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** Answers a refused upgrade on the raw socket with an HTTP status and a JSON body, then closes. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return;
  const body = errorBody(code, message);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Answers a plain HTTP request with a status and a JSON error body. */
export function refuseRequest(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = errorBody(code, message);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Hooks Tether into a user's server. Upgrades at `path` go to Tether; other upgrades are left
 * to the app's own listeners. Plain requests at `path` go to Tether only, and every other
 * request to the app's request listeners, whenever they were added: the server's `emit` is
 * wrapped for 'request', so even a listener registered after Tether never sees Tether's
 * requests. `detach()` puts everything back as it was.
 */
export function attachToServer(
  server: AnyServer,
  path: string,
  onUpgrade: UpgradeListener,
  onRequest: RequestListener,
): { detach(): void } {
  let attached = true;
  const emit = server.emit;
  const routedEmit = function (this: AnyServer, event: string | symbol, ...args: unknown[]): boolean {
    if (attached && event === 'request' && isUnderPath((args[0] as IncomingMessage).url, path)) {
      onRequest(args[0] as IncomingMessage, args[1] as ServerResponse);
      return true;
    }
    return (emit as (event: string | symbol, ...rest: unknown[]) => boolean).call(this, event, ...args);
  };
  server.emit = routedEmit as AnyServer['emit'];
  const upgradeListener: UpgradeListener = (req, socket, head) => {
    if (isUnderPath(req.url, path)) onUpgrade(req, socket, head);
    // Alone on 'upgrade', nobody else will answer: say so instead of leaving the socket hanging.
    else if (server.listenerCount('upgrade') === 1)
      refuseUpgrade(socket, 404, 'NOT_FOUND', 'no WebSocket endpoint here');
  };
  server.on('upgrade', upgradeListener);
  return {
    detach() {
      attached = false;
      server.off('upgrade', upgradeListener);
      // If another wrapper was stacked on ours since, ours stays in the chain, passing everything through.
      if (server.emit === routedEmit) server.emit = emit;
    },
  };
}

/**
 * How a transport opens: the request that opened it, and what `authenticate` made of it, or
 * `deferred` when the client sends its credentials in the hello (`authenticate` runs then).
 */
export type Opening =
  | { req: IncomingMessage; deferred: false; data: unknown }
  | { req: IncomingMessage; deferred: true };

/**
 * Where a Tether client put its credentials: `hello` (the `ah=1` marker: in `hello.a`), `url`
 * (an `auth` query parameter, refused: URLs end up in proxy and access logs), or `request`
 * (nothing said: `authenticate` reads cookies and headers of the request itself).
 */
export function credentialsPlace(url: string | undefined): 'hello' | 'url' | 'request' {
  const query = new URL(url ?? '/', 'http://localhost').searchParams;
  if (query.has(QUERY.authInHello)) return 'hello';
  return query.has('auth') ? 'url' : 'request';
}

/** The refusal of a request that carries credentials in its URL. */
export const CREDENTIALS_IN_URL = 'credentials in the URL are refused: send them in the hello (`a`)';
