/** Reconnect delays: exponential growth with a cap, and jitter so clients spread out. */
export interface BackoffOptions {
  /** First delay in ms. Default 1 000. */
  initialDelay?: number;
  /** Largest delay in ms. Default 30 000. */
  maxDelay?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay taken away at random (0 = none, 1 = anywhere from 0). Default 0.5. */
  jitter?: number;
  /** Attempts before giving up (state `closed`). Default Infinity. */
  maxAttempts?: number;
}

export type ResolvedBackoff = Required<BackoffOptions>;

export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  return {
    initialDelay: options.initialDelay ?? 1_000,
    maxDelay: options.maxDelay ?? 30_000,
    factor: options.factor ?? 2,
    jitter: Math.min(1, Math.max(0, options.jitter ?? 0.5)),
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * Delay before attempt `attempt` (0-based): `min(maxDelay, initialDelay * factor^attempt)`,
 * minus up to `jitter` of it at random. With jitter 0.5 the delay lies in [base/2, base].
 *
 * @example
 * backoffDelay(3, resolveBackoff(), () => 0); // 8000
 */
export function backoffDelay(
  attempt: number,
  options: ResolvedBackoff,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxDelay, options.initialDelay * options.factor ** attempt);
  return Math.round(base * (1 - options.jitter * random()));
}
