import { type ClientEnvironment, TetherClientBase, type TetherClientOptions } from './tether-client.js';
import { sseTransport } from './transports/sse.js';
import { type WebSocketConstructor, webSocketTransport } from './transports/websocket.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

const browserEnvironment: ClientEnvironment = {
  transports: {
    ...(typeof WebSocket === 'function'
      ? { websocket: webSocketTransport(WebSocket as unknown as WebSocketConstructor) }
      : {}),
    sse: sseTransport(),
  },
};

/**
 * The Tether client for browsers, on the native WebSocket and fetch.
 *
 * @example
 * import { TetherClient } from '@tether/client';
 * const client = new TetherClient(location.origin + '/tether');
 */
export class TetherClient<E extends EventMap = UnknownEvents> extends TetherClientBase<E> {
  constructor(url: string, options: TetherClientOptions = {}) {
    super(url, options, browserEnvironment);
  }
}

export * from './exports.js';
