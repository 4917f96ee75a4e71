import type { ErrorCode, HttpErrorCode } from './codes.js';

/**
 * The `code` of a {@link TetherError}: one of the documented codes ({@link ErrorCode}, and
 * {@link HttpErrorCode} in HTTP answers), or an app's own code on a `TetherError` its handler
 * threw. The `(string & {})` keeps editors offering the documented codes, and comparisons with
 * them narrow.
 */
export type TetherErrorCode = ErrorCode | HttpErrorCode | (string & {});

// Every copy of this module (each package bundles the protocol) marks its errors with the same
// registry symbol, so `instanceof TetherError` holds for an error made by any Tether package.
const BRAND: unique symbol = Symbol.for('tether.error') as never;

/**
 * The one error type Tether throws or rejects with. `code` is stable and documented in
 * docs/protocol.md; `message` is for humans and may change. `instanceof TetherError` is true for
 * an error from any Tether package in the process (server, client, redis-bus), even though each
 * ships its own build.
 *
 * @example
 * try { await client.request('chat:send', msg) }
 * catch (err) { if (err instanceof TetherError && err.code === 'TIMEOUT') retryLater() }
 */
export class TetherError extends Error {
  /** True for any error branded by a copy of this class; subclasses keep the ordinary check. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: a subclass (ProtocolError) inherits this method and must keep the plain prototype check.
    if (this !== TetherError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }

  override readonly name = 'TetherError';
  readonly code: TetherErrorCode;
  /** Extra facts for programs (e.g. the limit that was hit); never secrets. */
  readonly details: Record<string, unknown> | undefined;
  declare readonly [BRAND]: true;

  constructor(code: TetherErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Raised by the decoder for a frame that is not a valid message. `closeCode` is what the
 * receiving side closes the connection with, unless `requestId` names a request to answer instead.
 *
 * @example
 * try { codec.decode(frame) } catch (err) { if (err instanceof ProtocolError) socket.close(err.closeCode) }
 */
export class ProtocolError extends TetherError {
  readonly closeCode: number;
  /**
   * Set when the frame was a well-formed request envelope (`t: 'req'` with a valid `id`) whose
   * content was refused (a `__proto__` key, nesting too deep, a bad field): the receiver answers
   * that request with an error reply for this id and keeps the connection.
   */
  readonly requestId: string | undefined;
  constructor(
    code: typeof ErrorCode.BadMessage | typeof ErrorCode.UnknownType,
    message: string,
    closeCode: number,
    requestId?: string,
  ) {
    super(code, message);
    this.closeCode = closeCode;
    this.requestId = requestId;
  }
}
