import { ErrorCode, TetherError } from '@tether/protocol';

/** Size in bytes of a frame as it will travel. */
export function frameSize(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? new TextEncoder().encode(frame).byteLength : frame.byteLength;
}

/**
 * True when a frame is larger than `limit` bytes. UTF-8 takes at most 3 bytes per UTF-16 unit, so
 * most text frames need no counting at all.
 *
 * @example
 * exceeds('{"t":"evt"}', 1024); // false
 */
export function exceeds(frame: string | Uint8Array, limit: number): boolean {
  if (typeof frame === 'string' && frame.length * 3 <= limit) return false;
  return frameSize(frame) > limit;
}

/**
 * The error for an event or request larger than the server's limit: it is never sent.
 *
 * @example
 * tooLargeError('chat:send', 1024).code; // 'PAYLOAD_TOO_LARGE'
 */
export function tooLargeError(event: string, limit: number): TetherError {
  return new TetherError(
    ErrorCode.PayloadTooLarge,
    `"${event}" is larger than the server's limit of ${limit} bytes`,
  );
}
