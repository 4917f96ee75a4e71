/** Expiry times of `conn.data` objects that `authenticate` marked with `withExpiry`. */
const expiries = new WeakMap<object, number>();

/**
 * Marks what `authenticate` returns as valid until `expiresAtMs` (milliseconds since the epoch,
 * e.g. a JWT's `exp * 1000`) and returns the same object. The connection keeps `data` as
 * `conn.data`; before the time, the server asks the client to refresh its credentials on the
 * open connection (docs/security.md, "Expiry and refresh"), and closes it with 4440 if no
 * refresh came. `data` must be an object (the mark is kept beside it, not inside it).
 *
 * @example
 * authenticate: async (req, auth) => {
 *   const claims = verify((auth as { token: string }).token);
 *   return withExpiry({ userId: claims.sub }, claims.exp * 1000);
 * },
 */
export function withExpiry<Data extends object>(data: Data, expiresAtMs: number): Data {
  if (typeof data !== 'object' || data === null) throw new TypeError('withExpiry: data must be an object');
  if (!Number.isFinite(expiresAtMs)) throw new TypeError('withExpiry: expiresAtMs must be a finite number');
  expiries.set(data, expiresAtMs);
  return data;
}

/** The expiry `withExpiry` set on `data`, or undefined. */
export function expiryOf(data: unknown): number | undefined {
  return typeof data === 'object' && data !== null ? expiries.get(data) : undefined;
}
