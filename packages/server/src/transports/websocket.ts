import type { Duplex } from 'node:stream';
import type { Codec, Frame } from '@tether/protocol';
import * as wsModule from 'ws';
import { type PerMessageDeflateOptions, type RawData, WebSocket } from 'ws';
import type { CompressionOptions } from '../options.js';
import type { ServerTransport, TransportEvents } from './transport.js';
import type { WriteBatcher } from './write-batcher.js';

/** How a codec's frames go out: what ws.send gets (shared objects, not one per frame) and the opcode. */
interface SendMode {
  plain: { binary: boolean; compress: boolean };
  deflate: { binary: boolean; compress: boolean };
  opcode: 1 | 2;
}

const TEXT: SendMode = {
  plain: { binary: false, compress: false },
  deflate: { binary: false, compress: true },
  opcode: 1,
};
const BINARY: SendMode = {
  plain: { binary: true, compress: false },
  deflate: { binary: true, compress: true },
  opcode: 2,
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

// A broadcast hands the same payload Buffer to every member in a row: its WebSocket frame is built
// for the first and reused for the rest, as one Buffer (header and payload copied together once),
// so each member costs one socket write and one chunk of its batched writev, not two.
let framedPayload: Uint8Array | undefined;
let framedOpcode = 0;
let framed: Buffer[] = [];

function frameOnce(payload: Buffer, opcode: 1 | 2): Buffer[] {
  if (payload !== framedPayload || opcode !== framedOpcode) {
    framedPayload = payload;
    framedOpcode = opcode;
    const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode, mask: false, readOnly: false });
    framed = parts.length === 1 ? parts : [Buffer.concat(parts)];
  }
  return framed;
}

/**
 * The WebSocket class Tether's server gives ws (its `WebSocket` option): each socket knows its
 * transport, so the socket's listeners below are shared functions, not closures per connection.
 */
export class TransportSocket extends WebSocket {
  transport: WebSocketTransport | undefined;
  // ws keeps its net.Socket and its Sender in private fields: corking the socket is the only way
  // to batch frames, and handing the Sender a ready frame is how one broadcast is framed once, not
  // once per receiver. Both are what ws's own broadcast examples lean on; ws is pinned to 8.x.
  declare readonly _socket?: Duplex;
  declare readonly _sender: { _state: number; sendFrame(list: Buffer[]): void };
}

// `this` is the socket (ws emits on it). Shared by every socket: an idle connection carries no
// listener closures of its own.
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  // Text frames arrive as UTF-8-validated Buffers; the JSON codec wants a string.
  (this as TransportSocket).transport?.events?.onFrame(
    isBinary ? (data as Buffer) : (data as Buffer).toString(),
  );
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  (this as TransportSocket).transport?.events?.onClose(code, reason.toString());
}

// Errors (bad frames, oversize payloads) are followed by 'close'; without a listener they would throw.
function ignoreSocketError(): void {}

/**
 * A `ws` socket as a `ServerTransport`. With permessage-deflate negotiated, frames of at least
 * `compressThreshold` bytes are compressed (ws compresses per receiver: see docs/messaging.md).
 * Kept small: thousands of idle connections each hold one.
 *
 * @example
 * const transport = new WebSocketTransport(socket, jsonCodec, batcher);
 * transport.events = { onFrame, onClose, onDrain };
 */
export class WebSocketTransport implements ServerTransport {
  readonly #ws: TransportSocket;
  readonly #batcher: WriteBatcher;
  readonly #mode: SendMode;
  /** Undefined when the client did not negotiate compression (not Infinity: a double is boxed per object). */
  readonly #compressThreshold: number | undefined;
  #drainRequested = false;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;

  constructor(
    ws: TransportSocket,
    codec: Codec,
    batcher: WriteBatcher,
    compressThreshold = Number.POSITIVE_INFINITY,
  ) {
    this.#ws = ws;
    this.#batcher = batcher;
    this.#mode = codec.binary ? BINARY : TEXT;
    // ws applies its own threshold only without context takeover; this one always applies.
    this.#compressThreshold =
      ws.extensions.includes('permessage-deflate') && Number.isFinite(compressThreshold)
        ? compressThreshold
        : undefined;
    ws.transport = this;
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', ignoreSocketError);
  }

  get kind(): 'websocket' {
    return 'websocket';
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Frame): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const socket = this.#ws._socket;
    if (socket) this.#batcher.cork(socket);
    const compress = this.#compressThreshold !== undefined && frame.length >= this.#compressThreshold;
    const sender = this.#ws._sender;
    if (typeof frame !== 'string' && !compress && sender._state === SENDER_IDLE) {
      sender.sendFrame(frameOnce(frame as Buffer, this.#mode.opcode));
      return;
    }
    this.#ws.send(frame, compress ? this.#mode.deflate : this.#mode.plain);
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    // One listener per socket, added the first time it is congested: idle connections carry none.
    if (this.#drainedListener === undefined) this.#ws._socket?.on('drain', this.#drained);
    // Without a full socket buffer no 'drain' comes: the bytes sit in ws's compressor, or the
    // buffer is below the socket's high-water mark. Look again after this turn's I/O.
    if (!this.#ws._socket?.writableNeedDrain) setImmediate(this.#drained);
  }

  // Made on first congestion (and added to the socket then), not per connection: idle
  // connections carry no extra closure.
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
