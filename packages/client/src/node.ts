import WebSocket from 'ws';
import type { ClientEnvironment, TetherClientOptions } from './client-options.js';
import { traceClient, traceEnvironment, tracingEnabled } from './client-trace.js';
import { fetchWithHeaders, type HeaderRecord, headerSource, withHeaders } from './node-headers.js';
import { TetherClientBase } from './tether-client.js';
import { sseTransport } from './transports/sse.js';
import { type WebSocketConstructor, type WebSocketLike, webSocketTransport } from './transports/websocket.js';
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

  constructor(url: string, protocols: string[], headers?: HeaderRecord) {
    super(url, protocols, headers ? { skipUTF8Validation: true, headers } : { skipUTF8Validation: true });
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
function reportRefusal(socket: WebSocketLike, reportStatus: (status: number) => void): void {
  (socket as unknown as WebSocket).on('unexpected-response', (req, res) => {
    reportStatus(res.statusCode ?? 0);
    res.resume();
    req.destroy(new Error(`handshake refused with HTTP ${res.statusCode}`));
  });
}

/** `LeanWebSocket` sending `headers` on its upgrade request. */
function webSocketWith(headers: HeaderRecord): WebSocketConstructor {
  return class extends LeanWebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols, headers);
    }
  } as unknown as WebSocketConstructor;
}

const plainEnvironment: ClientEnvironment = {
  transports: {
    websocket: webSocketTransport(LeanWebSocket as unknown as WebSocketConstructor, reportRefusal),
    sse: sseTransport(),
  },
};

/**
 * The transports of one client. With the `headers` option they are read on each connect attempt
 * and sent on the WebSocket upgrade, or on every request of the SSE transport (stream and POSTs).
 */
function nodeEnvironment(option: TetherClientOptions['headers']): ClientEnvironment {
  const current = headerSource(option);
  if (!current) return plainEnvironment;
  return {
    transports: {
      websocket: withHeaders('websocket', current, (headers) =>
        webSocketTransport(webSocketWith(headers), reportRefusal),
      ),
      sse: withHeaders('sse', current, (headers) =>
        sseTransport({ fetch: fetchWithHeaders(globalThis.fetch.bind(globalThis), headers) }),
      ),
    },
  };
}

/**
 * The Tether client for Node (>= 20), on the `ws` package. Same API as in browsers, plus the
 * `headers` option (cookies, session ids) that browsers do not allow.
 *
 * @example
 * import { TetherClient } from '@tether/client';
 * const client = new TetherClient('http://127.0.0.1:3000/tether', { headers: { cookie: 'sid=abc' } });
 */
export class TetherClient<E extends EventMap = UnknownEvents> extends TetherClientBase<E> {
  constructor(url: string, options: TetherClientOptions = {}) {
    const environment = nodeEnvironment(options.headers);
    super(url, options, tracingEnabled() ? traceEnvironment(environment) : environment);
    traceClient(this);
  }
}

export { configureTracing, type TraceWriter } from '@tether/protocol/trace';
export * from './exports.js';
