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
