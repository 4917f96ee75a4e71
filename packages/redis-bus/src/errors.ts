import { ErrorCode, TetherError } from '@tether/server';

// Redis replies that mean "the store cannot take this now", as opposed to a bug in a command.
const UNAVAILABLE_REPLIES = /^(OOM|LOADING|READONLY|MASTERDOWN|BUSY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b/;

/**
 * The error every RedisBus method rejects with when Redis cannot be reached.
 *
 * @example
 * throw unavailable('redis is reconnecting');
 */
export function unavailable(reason: string): TetherError {
  return new TetherError(ErrorCode.BusUnavailable, `Redis bus unavailable: ${reason}`, { reason });
}

/**
 * Maps what ioredis rejected with to the error a caller sees: connection problems (closed,
 * not writable, timed out, retries exhausted) and "busy/loading/out of memory" replies become
 * `BUS_UNAVAILABLE`; any other Redis error reply is a fault and becomes `INTERNAL`.
 *
 * @example
 * try { await redis.get(key) } catch (error) { throw toBusError(error) }
 */
export function toBusError(error: unknown): TetherError {
  if (error instanceof TetherError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const isReply = error instanceof Error && error.name === 'ReplyError';
  if (isReply && !UNAVAILABLE_REPLIES.test(message)) {
    return new TetherError(ErrorCode.Internal, `Redis bus: ${message}`, { reason: message });
  }
  return unavailable(message);
}
