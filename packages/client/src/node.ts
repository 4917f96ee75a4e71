import WebSocket from 'ws';
import { type ClientEnvironment, TetherClientBase, type TetherClientOptions } from './tether-client.js';
import { sseTransport } from './transports/sse.js';
import { type WebSocketConstructor, webSocketTransport } from './transports/websocket.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

// Node's `ws` can show why a handshake was refused (401, 403...), which browsers hide.
const nodeEnvironment: ClientEnvironment = {
  transports: {
    websocket: webSocketTransport(WebSocket as unknown as WebSocketConstructor, (socket, reportStatus) => {
      (socket as unknown as WebSocket).on('unexpected-response', (req, res) => {
        reportStatus(res.statusCode ?? 0);
        res.resume();
        req.destroy(new Error(`handshake refused with HTTP ${res.statusCode}`));
      });
    }),
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
    super(url, options, nodeEnvironment);
  }
}

export * from './exports.js';
