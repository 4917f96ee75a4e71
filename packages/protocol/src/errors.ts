import type { ErrorCode } from './codes.js';

/**
 * The one error type Tether throws or rejects with. `code` is stable and documented in
 * docs/protocol.md; `message` is for humans and may change.
 *
 * @example
 * try { await client.request('chat:send', msg) }
 * catch (err) { if (err instanceof TetherError && err.code === 'TIMEOUT') retryLater() }
 */
export class TetherError extends Error {
  override readonly name = 'TetherError';
  readonly code: string;
  /** Extra facts for programs (e.g. the limit that was hit); never secrets. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/**
 * Raised by the decoder for a frame that is not a valid message. `closeCode` is what the
 * receiving side closes the connection with.
 *
 * @example
 * try { codec.decode(frame) } catch (err) { if (err instanceof ProtocolError) socket.close(err.closeCode) }
 */
export class ProtocolError extends TetherError {
  readonly closeCode: number;
  constructor(
    code: typeof ErrorCode.BadMessage | typeof ErrorCode.UnknownType,
    message: string,
    closeCode: number,
  ) {
    super(code, message);
    this.closeCode = closeCode;
  }
}
