import type { Codec, Frame } from '@tether/protocol';
import { type PerMessageDeflateOptions, type RawData, WebSocket } from 'ws';
import type { CompressionOptions } from '../options.js';
import type { ServerTransport, TransportEvents } from './transport.js';
import type { WriteBatcher } from './write-batcher.js';
import { WsInternals } from './ws-internals.js';

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

/**
 * The WebSocket class Tether's server gives ws (its `WebSocket` option): each socket knows its
 * transport, so the socket's listeners below are shared functions, not closures per connection.
 */
export class TransportSocket extends WebSocket {
  transport: WebSocketTransport | undefined;
}

/**
 * What every WebSocket transport of one server shares: the per-tick write batcher and the `ws`
 * internals found at start-up (undefined where `ws` lacks them: the public API is used then).
 *
 * @example
 * const shared: WsShared = { batcher: new WriteBatcher(), internals: WsInternals.detect() };
 */
export interface WsShared {
  readonly batcher: WriteBatcher;
  readonly internals: WsInternals | undefined;
}

/**
 * A transport's way out: the server's shared parts, the codec's send mode and, with compression
 * negotiated, the threshold (undefined otherwise; not Infinity: a double is boxed per object).
 */
interface SendProfile {
  readonly shared: WsShared;
  readonly mode: SendMode;
  readonly compressThreshold: number | undefined;
}

/** Profiles without compression, one per server and mode: no object of its own per connection. */
const plainProfiles = new WeakMap<WsShared, Map<SendMode, SendProfile>>();

function plainProfile(shared: WsShared, mode: SendMode): SendProfile {
  let profiles = plainProfiles.get(shared);
  if (!profiles) plainProfiles.set(shared, (profiles = new Map()));
  let profile = profiles.get(mode);
  if (!profile) profiles.set(mode, (profile = { shared, mode, compressThreshold: undefined }));
  return profile;
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
 * const transport = new WebSocketTransport(socket, jsonCodec, shared);
 * transport.events = { onFrame, onClose, onDrain };
 */
export class WebSocketTransport implements ServerTransport {
  readonly #ws: TransportSocket;
  /** How frames go out: shared by every connection of a server and codec without compression. */
  readonly #out: SendProfile;
  #drainRequested = false;
  /** Who gets frames and the close: the handshake first, then the connection. */
  events: TransportEvents | undefined;

  constructor(
    ws: TransportSocket,
    codec: Codec,
    shared: WsShared,
    compressThreshold = Number.POSITIVE_INFINITY,
  ) {
    this.#ws = ws;
    const mode = codec.binary ? BINARY : TEXT;
    // ws applies its own threshold only without context takeover; this one always applies.
    this.#out =
      ws.extensions.includes('permessage-deflate') && Number.isFinite(compressThreshold)
        ? { shared, mode, compressThreshold }
        : plainProfile(shared, mode);
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
    const { shared, mode, compressThreshold } = this.#out;
    const socket = WsInternals.socketOf(this.#ws);
    if (socket) shared.batcher.cork(socket);
    const compress = compressThreshold !== undefined && frame.length >= compressThreshold;
    if (
      typeof frame !== 'string' &&
      !compress &&
      shared.internals?.sendPrepared(this.#ws, frame as Buffer, mode.opcode) === true
    ) {
      return;
    }
    this.#ws.send(frame, compress ? mode.deflate : mode.plain);
  }

  requestDrain(): void {
    if (this.#drainRequested) return;
    this.#drainRequested = true;
    // One listener per socket, added the first time it is congested: idle connections carry none.
    const socket = WsInternals.socketOf(this.#ws);
    if (this.#drainedListener === undefined) socket?.on('drain', this.#drained);
    // Without a full socket buffer no 'drain' comes: the bytes sit in ws's compressor, or the
    // buffer is below the socket's high-water mark (or there is no socket to watch). Look again
    // after this turn's I/O.
    if (!socket?.writableNeedDrain) setImmediate(this.#drained);
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

  settled(): void {
    WsInternals.releaseReadBuffers(this.#ws);
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
