import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import * as wsModule from 'ws';

// Every use of `ws` internals is in this file. ws keeps its net.Socket and its Sender in private
// fields: corking the socket is the only way to batch frames, and handing the Sender a ready frame
// is how one broadcast is framed once, not once per receiver. Both are what ws's own broadcast
// examples lean on, and `ws` is pinned to a minor range. Where they are missing (Bun's `ws`, a
// future `ws`), the public API is used instead: slower, never wrong.

interface SenderInternals {
  _state: number;
  sendFrame(list: Buffer[]): void;
}

interface ReceiverInternals {
  _bufferedBytes?: number;
  _buffers?: unknown[];
}

interface SocketInternals {
  readonly _socket?: Duplex;
  readonly _sender?: SenderInternals;
  readonly _receiver?: ReceiverInternals;
}

type FrameBuilder = (
  data: Buffer,
  options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
) => Buffer[];

/** ws's Sender state when nothing is queued in it (no compression or Blob read in progress). */
const SENDER_IDLE = 0;

/** ws exports its frame builder (ESM and CJS), but @types/ws does not declare it. */
function frameBuilder(): FrameBuilder | undefined {
  const sender = (wsModule as unknown as { Sender?: { frame?: FrameBuilder } }).Sender;
  return typeof sender?.frame === 'function' ? sender.frame.bind(sender) : undefined;
}

/**
 * One server's access to `ws` internals, checked once when the server starts (the frame builder)
 * and once per socket (its Sender and net.Socket). Holds the server's last framed broadcast: a
 * broadcast hands the same payload Buffer to every member in a row, so its WebSocket frame is
 * built for the first and reused for the rest, as one Buffer (header and payload copied together
 * once): each member costs one socket write and one chunk of its batched writev, not two.
 *
 * @example
 * const internals = WsInternals.detect();
 * if (!internals?.sendPrepared(ws, payload, 1)) ws.send(payload);
 */
export class WsInternals {
  readonly #frame: FrameBuilder;
  #framedPayload: Uint8Array | undefined;
  #framedOpcode = 0;
  #framed: Buffer[] = [];

  private constructor(frame: FrameBuilder) {
    this.#frame = frame;
  }

  /** The internals of this `ws`, or undefined when it lacks them (then: the public API only). */
  static detect(): WsInternals | undefined {
    const frame = frameBuilder();
    return frame ? new WsInternals(frame) : undefined;
  }

  /** The socket's net.Socket, for corking and drain events; undefined without one. */
  static socketOf(ws: WebSocket): Duplex | undefined {
    const socket = (ws as unknown as SocketInternals)._socket;
    return socket && typeof socket.cork === 'function' ? socket : undefined;
  }

  /**
   * Lets go of the backing store of ws's list of received chunks when it is empty. ws pushes each
   * chunk read to that list and shifts it out once parsed: after the first message the emptied
   * list keeps room for 16 chunks (152 bytes) for as long as the connection lives, which idle
   * connections never use again. Emptying it (`length = 0`) frees that room; the next chunk makes
   * it again. A no-op unless the list is empty (no bytes waiting to be parsed).
   */
  static releaseReadBuffers(ws: WebSocket): void {
    const receiver = (ws as unknown as SocketInternals)._receiver;
    const buffers = receiver?._buffers;
    if (Array.isArray(buffers) && buffers.length === 0 && receiver!._bufferedBytes === 0) buffers.length = 0;
  }

  /**
   * Sends a ready payload as one frame through ws's Sender, bypassing its per-send framing. False
   * when it cannot (no Sender, or the Sender is busy): the caller then uses `ws.send`.
   */
  sendPrepared(ws: WebSocket, payload: Buffer, opcode: 1 | 2): boolean {
    const sender = (ws as unknown as SocketInternals)._sender;
    if (sender === undefined || sender._state !== SENDER_IDLE || typeof sender.sendFrame !== 'function')
      return false;
    if (payload !== this.#framedPayload || opcode !== this.#framedOpcode) {
      this.#framedPayload = payload;
      this.#framedOpcode = opcode;
      const parts = this.#frame(payload, { fin: true, rsv1: false, opcode, mask: false, readOnly: false });
      this.#framed = parts.length === 1 ? parts : [Buffer.concat(parts)];
    }
    sender.sendFrame(this.#framed);
    return true;
  }
}
