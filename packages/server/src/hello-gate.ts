import {
  CloseCode,
  type Codec,
  ErrorCode,
  type Frame,
  type HelloMessage,
  ProtocolError,
} from '@tether/protocol';
import type { ServerTransport, TransportEvents } from './transports/transport.js';

/** Frames a client may send before its `hello` is processed; more is abuse. */
const MAX_EARLY_FRAMES = 256;
/** And at most this many bytes of them, whatever the frame size limit. */
const MAX_EARLY_BYTES = 1024 * 1024;

/**
 * Stands in for the connection until the client's `hello` arrived and its session is
 * resolved: the first frame must be `hello`; frames after it wait here, in order, so the
 * connection handles them after `tether.on('connection')` listeners ran.
 *
 * @example
 * const gate = new HelloGate(transport, codec, 10_000);
 * const hello = await gate.hello; // then: transport.events = conn; gate.early.forEach(f => conn.onFrame(f))
 */
export class HelloGate implements TransportEvents {
  readonly early: Frame[] = [];
  readonly hello: Promise<HelloMessage>;
  #closed = false;
  #earlyBytes = 0;
  #received = false;
  #resolve!: (hello: HelloMessage) => void;
  #reject!: (err: Error) => void;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #transport: ServerTransport;
  readonly #codec: Codec;

  constructor(transport: ServerTransport, codec: Codec, timeoutMs: number) {
    this.#transport = transport;
    this.#codec = codec;
    this.hello = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The caller awaits `hello`; a rejection with no listener yet must not become unhandled.
    this.hello.catch(() => {});
    this.#timer = setTimeout(
      () => this.#fail(new ProtocolError(ErrorCode.BadMessage, 'no hello in time', CloseCode.HelloTimeout)),
      timeoutMs,
    );
    transport.events = this;
  }

  /** True once the transport closed (the handshake result must then be dropped). */
  get closed(): boolean {
    return this.#closed;
  }

  onFrame(frame: Frame): void {
    if (this.#received) {
      this.#earlyBytes += typeof frame === 'string' ? frame.length : frame.byteLength;
      if (this.early.push(frame) > MAX_EARLY_FRAMES || this.#earlyBytes > MAX_EARLY_BYTES) {
        this.#fail(
          new ProtocolError(ErrorCode.BadMessage, 'too many frames before welcome', CloseCode.BadMessage),
        );
      }
      return;
    }
    try {
      const message = this.#codec.decode(frame);
      if (message.t !== 'hello')
        throw new ProtocolError(
          ErrorCode.BadMessage,
          'the first message must be hello',
          CloseCode.BadMessage,
        );
      if ((message.sid === undefined) !== (message.sk === undefined)) {
        throw new ProtocolError(
          ErrorCode.BadMessage,
          'hello needs both sid and sk, or neither',
          CloseCode.BadMessage,
        );
      }
      this.#received = true;
      clearTimeout(this.#timer);
      this.#resolve(message);
    } catch (err) {
      this.#fail(err as ProtocolError);
    }
  }

  onClose(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#reject(new Error('closed during handshake'));
  }

  #fail(err: ProtocolError): void {
    clearTimeout(this.#timer);
    this.#reject(err);
    this.#transport.close(err.closeCode, err.message);
  }
}
