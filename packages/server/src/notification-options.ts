/**
 * The `notifications` option of `TetherServer`: how durable notifications are delivered and
 * retried (docs/notifications.md). A leaf module: the options and their defaults, nothing else.
 */

/** Options of durable notification delivery. Every field is optional. */
export interface NotificationOptions {
  /** Deliveries of one notification to a connected user before it becomes a dead letter. Default 3. */
  maxAttempts?: number;
  /** Time a delivery waits for the client's acknowledgement before it is due again, in ms. Default 5 000. */
  ackTimeoutMs?: number;
  /**
   * A notification no connection acknowledged this long after it was stored fires
   * `notification:offline` once in the cluster (the hook for Web Push or email), in ms. Default 10 000.
   */
  offlineAfterMs?: number;
  /**
   * How often the node's one notification sweep runs (due retries, offline notices), in ms.
   * Default: 1 000, or half of `ackTimeoutMs` or `offlineAfterMs` when that is shorter (at least 10).
   */
  sweepIntervalMs?: number;
}

/** {@link NotificationOptions} with their defaults. */
export type ResolvedNotificationOptions = Required<NotificationOptions>;

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new TypeError(`notifications.${name} must be a positive number (got ${value})`);
  return Math.ceil(value);
}

/**
 * Applies the defaults and checks the values (a bad value throws at startup).
 *
 * @example
 * resolveNotificationOptions({ ackTimeoutMs: 2_000 }); // { maxAttempts: 3, ackTimeoutMs: 2000, ... }
 */
export function resolveNotificationOptions(options: NotificationOptions = {}): ResolvedNotificationOptions {
  const maxAttempts = positiveInteger('maxAttempts', options.maxAttempts, 3);
  const ackTimeoutMs = positiveInteger('ackTimeoutMs', options.ackTimeoutMs, 5_000);
  const offlineAfterMs = positiveInteger('offlineAfterMs', options.offlineAfterMs, 10_000);
  const fallbackSweep = Math.max(10, Math.min(1_000, ackTimeoutMs / 2, offlineAfterMs / 2));
  const sweepIntervalMs = positiveInteger('sweepIntervalMs', options.sweepIntervalMs, fallbackSweep);
  return { maxAttempts, ackTimeoutMs, offlineAfterMs, sweepIntervalMs };
}
