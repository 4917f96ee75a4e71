import { type ByeMessage, CloseCode, type Frame, jsonCodec } from '@tether/protocol';
import type { SseStream } from './sse-stream.js';
import type { ServerTransport, TransportEvents } from './transport.js';

/** SSE event names of the Tether client stream besides plain protocol messages. Documented in docs/sse.md. */
export const SseEvent = {
  /** First event: the token that binds upstream POSTs to this stream, and the largest POST body accepted. */
  open: 'open',
  /** Last event: a `bye` message whose code and reason stand for a WebSocket close frame. */
  close: 'close',
} as const;

/** What the first event of a client stream carries. */
export interface SseOpenData {
  /** Binds POSTs to this stream: `<nodeId>.<stream number>.<secret>`. */
  token: string;
  /** Largest POST body the server accepts, in bytes. */
  maxPost: number;
}

const DATA = Buffer.from('data: ');
const END = Buffer.from('\n\n');

/**
 * The server side of the Tether client's SSE transport: protocol messages go down one event
 * stream (one message per event, the same text a WebSocket frame carries); messages come up in
 * POSTs, which the endpoint checks and hands to `receive`, on this node or forwarded from another.
 *
 * @example
 * const transport = new SseTransport(stream, { token, maxPost });
 * void tether.acceptTransport(transport, jsonCodec, data, handshake);
 */
export class SseTransport implements ServerTransport {
  readonly kind = 'sse';
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;
  /** Called once when the stream is gone, after `events.onClose`. */
  onGone: (() => void) | undefined;
  readonly #stream: SseStream;
  #closeCode: number | undefined;
  #closeReason = '';
  #gone = false;

  constructor(stream: SseStream, open: SseOpenData) {
    this.#stream = stream;
    stream.onClose = () => this.#onStreamClosed();
    stream.onDrain = () => this.events?.onDrain?.();
    stream.open();
    stream.write(`event: ${SseEvent.open}\ndata: ${JSON.stringify(open)}\n\n`);
  }

  get bufferedAmount(): number {
    return this.#stream.bufferedAmount;
  }

  /** True once `close` was called or the stream is gone: no more frames are taken. */
  get closed(): boolean {
    return this.#closeCode !== undefined || this.#gone;
  }

  send(frame: Frame): void {
    if (this.closed) return;
    // JSON text never holds a raw line break (JSON.stringify escapes them), so one data line is one frame.
    if (typeof frame === 'string') this.#stream.write(`data: ${frame}\n\n`);
    else this.#stream.write(Buffer.concat([DATA, frame, END]));
  }

  /** Lets a congested connection queue frames until the stream drained (see `ServerTransport`). */
  requestDrain(): void {
    if (!this.closed) this.#stream.requestDrain();
  }

  /** Writes the closing `bye` and ends the stream; the client treats the code as a WebSocket close code. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.#closeCode = code;
    this.#closeReason = reason;
    const bye: ByeMessage = { t: 'bye', c: code, m: reason.slice(0, 120) };
    this.#stream.write(`event: ${SseEvent.close}\ndata: ${jsonCodec.encode(bye)}\n\n`);
    this.#stream.end();
  }

  terminate(): void {
    this.#stream.destroy();
  }

  /** Frames from a POST, already checked, in order. */
  receive(frames: readonly string[]): void {
    for (const frame of frames) {
      if (this.#gone) return;
      this.events?.onFrame(frame);
    }
  }

  /** The client said goodbye (DELETE), with the code its WebSocket close frame would carry. */
  closedByClient(code: number): void {
    if (this.closed) return;
    this.#closeCode = code;
    this.#closeReason =
      code === CloseCode.Normal ? 'client closed' : `closed by the client with code ${code}`;
    this.#stream.end();
  }

  #onStreamClosed(): void {
    if (this.#gone) return;
    this.#gone = true;
    const code = this.#closeCode ?? CloseCode.Abnormal;
    const reason = this.#closeCode === undefined ? 'connection lost' : this.#closeReason;
    this.events?.onClose(code, reason);
    this.onGone?.();
  }
}
