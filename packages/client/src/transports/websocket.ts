import { QUERY } from '@tether/protocol';
import { type ClientTransport, type TransportFactory, toWebSocketUrl, withQuery } from './transport.js';

/** The part of the WebSocket API the client uses: the browser's and `ws`'s agree on it. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBufferLike | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/**
 * WebSocket transport over any WebSocket implementation. `onHandshakeStatus` lets an
 * environment that can see a refused handshake's HTTP status (Node's `ws`) report it.
 *
 * @example
 * const factory = webSocketTransport(globalThis.WebSocket);
 */
export function webSocketTransport(
  WebSocketImpl: WebSocketConstructor,
  onCreated?: (socket: WebSocketLike, reportStatus: (status: number) => void) => void,
): TransportFactory {
  return ({ url, codec, authInHello, events }) => {
    // Credentials go in the hello, never in the URL (proxy and access logs keep URLs).
    const marker = authInHello ? '1' : undefined;
    const socket = new WebSocketImpl(withQuery(toWebSocketUrl(url), { [QUERY.authInHello]: marker }), [
      codec.subprotocol,
    ]);
    socket.binaryType = 'arraybuffer';
    let status: number | undefined;
    let closedByUs = false;
    onCreated?.(socket, (s) => {
      status = s;
    });
    socket.onopen = () => events.onOpen();
    socket.onmessage = (event) => events.onFrame(event.data as string | ArrayBuffer);
    socket.onclose = (event) => {
      if (!closedByUs) events.onClose(event.code, event.reason, status);
    };
    // Errors are always followed by close; the close carries what the core needs.
    socket.onerror = () => {};
    const transport: ClientTransport = {
      kind: 'websocket',
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      send(frame) {
        if (socket.readyState === 1) socket.send(frame);
      },
      close(code = 1000, reason = '') {
        closedByUs = true;
        socket.onopen = socket.onmessage = socket.onclose = null;
        try {
          socket.close(code, reason);
        } catch {
          // close() throws if the socket never opened in some environments; it is going away anyway.
        }
      },
    };
    return transport;
  };
}
