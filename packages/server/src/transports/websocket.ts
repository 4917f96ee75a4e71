import type { Duplex } from 'node:stream';
import type { Codec, Frame } from '@tether/protocol';
import { type PerMessageDeflateOptions, WebSocket } from 'ws';
import type { CompressionOptions } from '../options.js';
import type { ServerTransport, TransportEvents } from './transport.js';
import type { WriteBatcher } from './write-batcher.js';

// ws keeps its net.Socket in a private field; corking it is the only way to batch frames.
type WebSocketWithSocket = WebSocket & { _socket?: Duplex };

/** What ws.send gets: two shared objects instead of a new one per frame. */
interface SendOptions {
  binary: boolean;
  compress: boolean;
}

/**
 * A `ws` socket as a `ServerTransport`. With permessage-deflate negotiated, frames of at least
 * `compressThreshold` bytes are compressed (ws compresses per receiver: see docs/messaging.md).
 *
 * @example
 * const transport = new WebSocketTransport(ws, jsonCodec, batcher);
 * transport.events = { onFrame, onClose, onDrain };
 */
export class WebSocketTransport implements ServerTransport {
  readonly kind = 'websocket';
  readonly #ws: WebSocketWithSocket;
  readonly #batcher: WriteBatcher;
  readonly #plain: SendOptions;
  readonly #deflate: SendOptions;
  readonly #compressThreshold: number;
  #drainRequested = false;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;

  constructor(
    ws: WebSocket,
    codec: Codec,
    batcher: WriteBatcher,
    compressThreshold = Number.POSITIVE_INFINITY,
  ) {
    this.#ws = ws;
    this.#batcher = batcher;
    this.#plain = { binary: codec.binary, compress: false };
    this.#deflate = { binary: codec.binary, compress: true };
    // ws applies its own threshold only without context takeover; this one always applies.
    this.#compressThreshold = ws.extensions.includes('permessage-deflate')
      ? compressThreshold
      : Number.POSITIVE_INFINITY;
    // One listener per socket, answering requestDrain(); nothing is added per frame.
    this.#ws._socket?.on('drain', this.#drained);
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
    this.#ws.send(frame, frame.length >= this.#compressThreshold ? this.#deflate : this.#plain);
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    // Without a full socket buffer no 'drain' comes: the bytes sit in ws's compressor, or the
    // buffer is below the socket's high-water mark. Look again after this turn's I/O.
    if (!this.#ws._socket?.writableNeedDrain) setImmediate(this.#drained);
  }

  readonly #drained = (): void => {
    if (!this.#drainRequested) return;
    this.#drainRequested = false;
    if (this.#ws.readyState === WebSocket.OPEN) this.events?.onDrain?.();
  };

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason.slice(0, 120));
    }
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

/**
 * ws's permessage-deflate settings for the `compression` option: a small zlib window and memory
 * level (about 32 KiB per connection instead of 256 KiB), context takeover kept (it is what makes
 * small JSON frames shrink), and no threshold of ws's own: `WebSocketTransport` applies it.
 *
 * @example
 * new WebSocketServer({ noServer: true, perMessageDeflate: deflateOptions({ threshold: 1024, windowBits: 12, memLevel: 5 }) });
 */
export function deflateOptions(
  compression: Required<CompressionOptions> | false,
): PerMessageDeflateOptions | false {
  if (!compression) return false;
  return {
    serverMaxWindowBits: compression.windowBits,
    zlibDeflateOptions: { memLevel: compression.memLevel },
    threshold: 0,
  };
}
