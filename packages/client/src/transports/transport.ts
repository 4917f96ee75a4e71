import type { Codec, Frame } from '@tether/protocol';

export type TransportKind = 'websocket' | 'sse';

/** What the client core needs from a transport. */
export interface ClientTransport {
  readonly kind: TransportKind;
  /** Bytes sent but not yet on the network, where the transport can tell (volatile emits drop past a limit). */
  readonly bufferedAmount?: number;
  send(frame: Frame): void;
  /** Closes; no event follows a close the client asked for. */
  close(code?: number, reason?: string): void;
}

/** Callbacks the core gives a transport. */
export interface ClientTransportEvents {
  /** The transport can carry frames (the core then sends `hello`). */
  onOpen(): void;
  onFrame(frame: Frame | ArrayBuffer): void;
  /**
   * The transport is gone. `status` is the HTTP status when the server refused the handshake
   * (401, 403, 503...), when the environment can see it.
   */
  onClose(code: number, reason: string, status?: number): void;
}

/** Everything needed to open one transport. */
export interface TransportRequest {
  /** The endpoint as the user gave it (http, https, ws or wss). */
  url: string;
  codec: Codec;
  /**
   * True when the client has an `auth` option: the transport marks its URL (`ah=1`) so the server
   * waits for the credentials in the hello. They never travel in the URL.
   */
  authInHello: boolean;
  events: ClientTransportEvents;
}

export type TransportFactory = (request: TransportRequest) => ClientTransport;

/** Adds a query parameter to a URL string without disturbing the rest. */
export function withQuery(url: string, params: Record<string, string | undefined>): string {
  const parsed = new URL(url);
  for (const [key, value] of Object.entries(params))
    if (value !== undefined) parsed.searchParams.set(key, value);
  return parsed.toString();
}

/** http(s) → ws(s); ws(s) stays. */
export function toWebSocketUrl(url: string): string {
  return url.replace(/^http(s?):/i, 'ws$1:');
}

/** ws(s) → http(s); http(s) stays. */
export function toHttpUrl(url: string): string {
  return url.replace(/^ws(s?):/i, 'http$1:');
}
