import WebSocket from 'ws';
import type { ClientEnvironment, TetherClientOptions } from './client-options.js';
import { traceClient, traceEnvironment, tracingEnabled } from './client-trace.js';
import { TetherClientBase } from './tether-client.js';
import { sseTransport } from './transports/sse.js';
import { type WebSocketConstructor, webSocketTransport } from './transports/websocket.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

type MessageHandler = ((event: { data: unknown }) => void) | null;

/**
 * `ws` with an `onmessage` that skips its `MessageEvent` (a class instance per frame, dispatched
 * through its EventTarget shim): the handler gets one reused `{ data }` (the transport reads it
 * at once and keeps nothing), text as a string. UTF-8 validation is left to `toString` and the
 * JSON parse: the peer is the app's own server.
 */
class LeanWebSocket extends WebSocket {
  #onMessage: MessageHandler = null;
  readonly #event: { data: unknown } = { data: undefined };

  constructor(url: string, protocols: string[]) {
    super(url, protocols, { skipUTF8Validation: true });
  }

  // @ts-expect-error ws types `onmessage` with its own event type; the transport reads only `data`.
  override get onmessage(): MessageHandler {
    return this.#onMessage;
  }

  override set onmessage(handler: MessageHandler) {
    if (this.#onMessage) this.off('message', this.#deliver);
    this.#onMessage = handler;
    if (handler) this.on('message', this.#deliver);
  }

  readonly #deliver = (data: Buffer | ArrayBuffer, isBinary: boolean): void => {
    this.#event.data = isBinary ? data : data.toString();
    this.#onMessage?.(this.#event);
    this.#event.data = undefined;
  };
}

// Node's `ws` can show why a handshake was refused (401, 403...), which browsers hide.
const nodeEnvironment: ClientEnvironment = {
  transports: {
    websocket: webSocketTransport(
      LeanWebSocket as unknown as WebSocketConstructor,
      (socket, reportStatus) => {
        (socket as unknown as WebSocket).on('unexpected-response', (req, res) => {
          reportStatus(res.statusCode ?? 0);
          res.resume();
          req.destroy(new Error(`handshake refused with HTTP ${res.statusCode}`));
        });
      },
    ),
    sse: sseTransport(),
  },
};

/**
 * The Tether client for Node (>= 20), on the `ws` package. Same API as in browsers.
 *
 * @example
 * import { TetherClient } from '@tether/client';
 * const client = new TetherClient('http://127.0.0.1:3000/tether');
 */
export class TetherClient<E extends EventMap = UnknownEvents> extends TetherClientBase<E> {
  constructor(url: string, options: TetherClientOptions = {}) {
    super(url, options, tracingEnabled() ? traceEnvironment(nodeEnvironment) : nodeEnvironment);
    traceClient(this);
  }
}

export { configureTracing, type TraceWriter } from '@tether/protocol/trace';
export * from './exports.js';
