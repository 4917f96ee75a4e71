import type { TransportFactory } from './transport.js';

/**
 * SSE transport (stream down, POSTs up). Placeholder until the SSE transport lands: it reports
 * an immediate failure so the client moves on.
 */
export function sseTransport(): TransportFactory {
  return ({ events }) => {
    let closed = false;
    queueMicrotask(() => {
      if (!closed) events.onClose(1006, 'SSE transport not available');
    });
    return {
      kind: 'sse',
      send() {},
      close() {
        closed = true;
      },
    };
  };
}
