import type { Outcome } from './outcome-store.js';

/** What a request span is told: the event, the request and connection, the client's trace context. */
export interface RequestSpanInfo {
  readonly event: string;
  readonly requestId: string;
  readonly connId: string;
  readonly transport: 'websocket' | 'sse';
  /** The carrier the client sent (`client` option `traceContext`), if any. */
  readonly traceContext: Readonly<Record<string, string>> | undefined;
}

/** What a join span is told. */
export interface JoinSpanInfo {
  readonly room: string;
  readonly connId: string;
  /** True when the join resumes from a position (recovery). */
  readonly resuming: boolean;
}

/** What a publish span is told. */
export interface PublishSpanInfo {
  readonly room: string;
  readonly event: string;
  readonly volatile: boolean;
}

/**
 * Hooks around the units of work a tracer turns into spans: a client request's handler run, a
 * join, a room publish. Each hook gets the facts and a `run` to call exactly once; it returns
 * what `run` returned (a request's outcome is a value, never a throw: an error reply is
 * `{ ok: false }`). Unset hooks cost nothing. `@tether/server/otel` sets them; a server has one
 * set, `tether.observers.instrumentation`.
 *
 * @example
 * tether.observers.instrumentation.publish = async (info, run) => {
 *   const started = performance.now();
 *   try { return await run(); } finally { console.log(info.room, performance.now() - started); }
 * };
 */
export interface Instrumentation {
  request?: (info: RequestSpanInfo, run: () => Outcome | Promise<Outcome>) => Promise<Outcome>;
  join?: <T>(info: JoinSpanInfo, run: () => Promise<T>) => Promise<T>;
  publish?: <T>(info: PublishSpanInfo, run: () => Promise<T>) => Promise<T>;
}

/** Most entries of a trace context the server reads; a larger or malformed one is ignored. */
const MAX_CARRIER_ENTRIES = 8;

/**
 * A request's `tc` as a trace context, or undefined when it is not one: a plain object of at most
 * 8 short string entries. Checked only when a tracer reads it, so the decoder stays lean.
 *
 * @example
 * traceCarrier({ traceparent: '00-…' }); // the object; traceCarrier(42) === undefined
 */
export function traceCarrier(value: unknown): Readonly<Record<string, string>> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  if (entries.length > MAX_CARRIER_ENTRIES) return undefined;
  for (const [key, entry] of entries)
    if (key.length > 256 || typeof entry !== 'string' || entry.length > 1_024) return undefined;
  return value as Record<string, string>;
}
