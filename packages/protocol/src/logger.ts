/**
 * The logging interface every Tether package writes to: pino's shape (`obj` first), so a pino or
 * bunyan logger passes as is, and `console` with an adapter.
 *
 * @example
 * const logger: Logger = { debug() {}, info() {}, warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) };
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
