import { CloseCode } from '@tether/protocol';
import type { ClientEnvironment, TetherClientOptions } from './client-options.js';
import { watchPage } from './page-lifecycle.js';
import { TetherClientBase } from './tether-client.js';
import type { ClientTransport, TransportFactory } from './transports/transport.js';
import { type WebSocketConstructor, webSocketTransport } from './transports/websocket.js';
import type { EventMap, UnknownEvents } from './typed-events.js';

/**
 * SSE is the fallback for networks that block WebSocket; its code (and the SSE parser) is a
 * separate chunk that only pages which fall back ever load, keeping the core bundle small.
 */
const lazySseTransport: TransportFactory = (request) => {
  let inner: ClientTransport | undefined;
  let closed = false;
  import('./transports/sse.js').then(
    ({ sseTransport }) => {
      if (!closed) inner = sseTransport()(request);
    },
    (err: Error) => {
      if (!closed)
        request.events.onClose(CloseCode.Abnormal, `the SSE transport did not load: ${err.message}`);
    },
  );
  return {
    kind: 'sse',
    get bufferedAmount() {
      return inner?.bufferedAmount;
    },
    send(frame) {
      inner?.send(frame);
    },
    close(code, reason) {
      closed = true;
      inner?.close(code, reason);
    },
  };
};

const browserEnvironment: ClientEnvironment = {
  transports: {
    ...(typeof WebSocket === 'function'
      ? { websocket: webSocketTransport(WebSocket as unknown as WebSocketConstructor) }
      : {}),
    sse: lazySseTransport,
  },
  // Pages only (not workers): online/offline, visibility, freeze/resume, back-forward cache.
  ...(typeof document === 'object' ? { page: watchPage } : {}),
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
    // Browsers send cookies on their own and let no page set WebSocket headers.
    if (options.headers) throw new TypeError('headers: Node only');
    super(url, options, browserEnvironment);
    // `localStorage.debug = 'tether:*'` traces (a separate chunk: pages that do not trace never load it).
    if (/tether|\*/.test(debugSwitch())) void import('./client-trace.js').then((m) => m.traceClient(this));
  }
}

function debugSwitch(): string {
  try {
    return localStorage.getItem('debug') ?? '';
  } catch {
    return ''; // no storage (privacy settings, a sandboxed frame)
  }
}

export * from './exports.js';
