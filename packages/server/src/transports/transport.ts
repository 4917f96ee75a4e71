import type { Frame } from '@tether/protocol';

/**
 * What a connection needs from a transport. WebSocket and SSE each implement it, so the
 * connection logic (messages, rooms, acks) is written once.
 */
export interface ServerTransport {
  readonly kind: 'websocket' | 'sse';
  /** Outgoing bytes not yet handed to the kernel: the backpressure signal. */
  readonly bufferedAmount: number;
  /** Queues one frame. Frames sent in the same tick leave in one write. */
  send(frame: Frame): void;
  /** Closes with a code and a reason (a close frame, or a `bye` event on SSE). */
  close(code: number, reason: string): void;
  /** Drops the connection at once (dead peer). */
  terminate(): void;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;
  /**
   * Optional drain hook: asks for one `events.onDrain()` call once `bufferedAmount` has gone down
   * (the socket drained). Repeated requests before that call are one request. A transport with
   * it lets a congested connection queue frames (urgent first, conflated replaced, volatile
   * dropped) instead of writing them all; without it, frames are written until the hard limit.
   */
  requestDrain?(): void;
  /**
   * Optional inbound backpressure: stop reading from the peer (its frames wait in the kernel and
   * then in the peer's own buffers) until `resumeReading()`. The rate limiter uses it so that a
   * flooding client costs no parsing while it is over its limit (docs/security.md).
   */
  pauseReading?(): void;
  resumeReading?(): void;
  /**
   * Optional: the opening (hello, welcome) is over. A transport may let go of what only the
   * opening needed; many connections are idle from then on.
   */
  settled?(): void;
}

/** Callbacks a transport calls; set by the connection that owns it. */
export interface TransportEvents {
  onFrame(frame: Frame): void;
  onClose(code: number, reason: string): void;
  /** The drain a `requestDrain()` asked for. */
  onDrain?(): void;
}
