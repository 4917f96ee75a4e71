import type { Duplex } from 'node:stream';
import type { Codec, Frame } from '@tether/protocol';
import { WebSocket } from 'ws';
import type { ServerTransport, TransportEvents } from './transport.js';
import type { WriteBatcher } from './write-batcher.js';

// ws keeps its net.Socket in a private field; corking it is the only way to batch frames.
type WebSocketWithSocket = WebSocket & { _socket?: Duplex };

/**
 * A `ws` socket as a `ServerTransport`.
 *
 * @example
 * const transport = new WebSocketTransport(ws, jsonCodec, batcher);
 * transport.events = { onFrame, onClose };
 */
export class WebSocketTransport implements ServerTransport {
  readonly kind = 'websocket';
  readonly #ws: WebSocketWithSocket;
  readonly #batcher: WriteBatcher;
  readonly #binary: boolean;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;

  constructor(ws: WebSocket, codec: Codec, batcher: WriteBatcher) {
    this.#ws = ws;
    this.#batcher = batcher;
    this.#binary = codec.binary;
    ws.on('message', (data, isBinary) => {
      // Text frames arrive as UTF-8-validated Buffers; the JSON codec wants a string.
      this.events?.onFrame(isBinary ? (data as Buffer) : (data as Buffer).toString());
    });
    ws.on('close', (code, reason) => this.events?.onClose(code, reason.toString()));
    // Errors (bad frames, oversize payloads) are followed by 'close'; without a listener they would throw.
    ws.on('error', () => {});
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Frame): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const socket = this.#ws._socket;
    if (socket) this.#batcher.cork(socket);
    this.#ws.send(frame, { binary: this.#binary });
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason.slice(0, 120));
    }
  }

  terminate(): void {
    this.#ws.terminate();
  }
}
