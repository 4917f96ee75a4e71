/**
 * Messages of identity and long-lived connections (docs/protocol.md, "Credentials and refresh"):
 * kept in their own module so the shared message list grows by one line per type.
 *
 * Direction: C = client to server, S = server to client.
 */

/**
 * S: the connection's credentials expire in `x` ms: the client calls its `auth` option again and
 * answers with `auth`. Sent once per expiry, when a share of the credentials' life is left.
 */
export interface ReauthMessage {
  t: 'reauth';
  /** Milliseconds left before the server closes the connection (4440) unless a refresh arrives. */
  x: number;
}

/**
 * C: fresh credentials on the open connection (asked for by `reauth`, or by `client.refreshAuth()`).
 * The server runs `authenticate` again and answers `res` (accepted) or `err` (then closes).
 */
export interface AuthMessage {
  t: 'auth';
  id: string;
  /** What the client's `auth` option produced. */
  a?: unknown;
}

/**
 * S: a client event (`evt`) was refused by the server's inbound hook (`tether.use`): an event has
 * no reply to carry the error, so this says it. `c` is an error code, `m` a message.
 */
export interface RefusedMessage {
  t: 'rej';
  e: string;
  c: string;
  m: string;
}
