import type { Duplex } from 'node:stream';
import type { Codec, Frame } from '@tether/protocol';
import * as wsModule from 'ws';
import { type PerMessageDeflateOptions, WebSocket } from 'ws';
import type { CompressionOptions } from '../options.js';
import type { ServerTransport, TransportEvents } from './transport.js';
import type { WriteBatcher } from './write-batcher.js';

// ws keeps its net.Socket and its Sender in private fields: corking the socket is the only way to
// batch frames, and handing the Sender a ready frame is how one broadcast is framed once, not once
// per receiver. Both are what ws's own broadcast examples lean on; ws is pinned to 8.x.
type WebSocketWithSocket = WebSocket & {
  _socket?: Duplex;
  _sender: { _state: number; sendFrame(list: Buffer[]): void };
};

/** What ws.send gets: shared objects instead of a new one per frame. */
interface SendOptions {
  binary: boolean;
  compress: boolean;
}

const SEND_OPTIONS: Record<'text' | 'binary', Record<'plain' | 'deflate', SendOptions>> = {
  text: { plain: { binary: false, compress: false }, deflate: { binary: false, compress: true } },
  binary: { plain: { binary: true, compress: false }, deflate: { binary: true, compress: true } },
};

// ws exports its frame builder (ESM and CJS), but @types/ws does not declare it.
const { Sender } = wsModule as unknown as {
  Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
    ): Buffer[];
  };
};

/** ws's Sender state when nothing is queued in it (no compression or Blob read in progress). */
const SENDER_IDLE = 0;

// A broadcast hands the same payload Buffer to every member in a row: its WebSocket frame (header
// plus payload) is built for the first and reused for the rest.
let framedPayload: Uint8Array | undefined;
let framedOpcode = 0;
let framed: Buffer[] = [];

function frameOnce(payload: Buffer, opcode: 1 | 2): Buffer[] {
  if (payload !== framedPayload || opcode !== framedOpcode) {
    framedPayload = payload;
    framedOpcode = opcode;
    framed = Sender.frame(payload, { fin: true, rsv1: false, opcode, mask: false, readOnly: false });
  }
  return framed;
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
  readonly #opcode: 1 | 2;
  #drainRequested = false;
  #drainListening = false;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;

  constructor(
    ws: WebSocket,
    codec: Codec,
    batcher: WriteBatcher,
    compressThreshold = Number.POSITIVE_INFINITY,
  ) {
    this.#ws = ws as WebSocketWithSocket;
    this.#batcher = batcher;
    this.#plain = SEND_OPTIONS[codec.binary ? 'binary' : 'text'].plain;
    this.#deflate = SEND_OPTIONS[codec.binary ? 'binary' : 'text'].deflate;
    this.#opcode = codec.binary ? 2 : 1;
    // ws applies its own threshold only without context takeover; this one always applies.
    this.#compressThreshold = ws.extensions.includes('permessage-deflate')
      ? compressThreshold
      : Number.POSITIVE_INFINITY;
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
    const sender = this.#ws._sender;
    if (
      typeof frame !== 'string' &&
      frame.length < this.#compressThreshold &&
      sender._state === SENDER_IDLE
    ) {
      sender.sendFrame(frameOnce(frame as Buffer, this.#opcode));
      return;
    }
    this.#ws.send(frame, frame.length >= this.#compressThreshold ? this.#deflate : this.#plain);
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    // One listener per socket, added the first time it is congested: idle connections carry none.
    if (!this.#drainListening) {
      this.#drainListening = true;
      this.#ws._socket?.on('drain', this.#drained);
    }
    // Without a full socket buffer no 'drain' comes: the bytes sit in ws's compressor, or the
    // buffer is below the socket's high-water mark. Look again after this turn's I/O.
    if (!this.#ws._socket?.writableNeedDrain) setImmediate(this.#drained);
  }

  // Made on first congestion, not per connection: idle connections carry no extra closure.
  #drainedListener: (() => void) | undefined;

  get #drained(): () => void {
    this.#drainedListener ??= () => this.#onDrained();
    return this.#drainedListener;
  }

  #onDrained(): void {
    if (!this.#drainRequested) return;
    this.#drainRequested = false;
    if (this.#ws.readyState === WebSocket.OPEN) this.events?.onDrain?.();
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason.slice(0, 120));
    }
  }

  terminate(): void {
    this.#ws.terminate();
  }

  pauseReading(): void {
    this.#ws.pause();
  }

  resumeReading(): void {
    this.#ws.resume();
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
