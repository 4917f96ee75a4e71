import type { IncomingHttpHeaders } from 'node:http';

/**
 * Request details the app can inspect, taken from the HTTP request that opened the connection.
 *
 * @example
 * const limits = { maxConnectionsPerUser: 5, userKey: ({ handshake }: { handshake: Handshake }) => handshake.address };
 */
export interface Handshake {
  headers: IncomingHttpHeaders;
  url: string;
  address: string | undefined;
}

/**
 * What a connection keeps of its handshake. Headers are not kept (about half a kilobyte per idle
 * connection): read what you need in `authenticate(req)` and return it as part of `conn.data`.
 *
 * @example
 * tether.on('connection', (conn) => console.log(conn.handshake.address, conn.handshake.url));
 */
export type ConnectionHandshake = Pick<Handshake, 'url' | 'address'>;

/** The last handshake URL kept: a server's clients mostly connect to one URL. */
let lastUrl = '';

/**
 * `url` itself, or the equal string an earlier connection keeps: the HTTP parser makes a new
 * string per request, which every idle connection would otherwise hold a copy of (24+ bytes).
 *
 * @example
 * const handshake = { url: sharedUrl(req.url ?? '/'), address };
 */
export function sharedUrl(url: string): string {
  if (url === lastUrl) return lastUrl;
  lastUrl = url;
  return url;
}
