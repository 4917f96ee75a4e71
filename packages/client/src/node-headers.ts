import { validateHeaderName, validateHeaderValue } from 'node:http';
import { CloseCode } from '@tether/protocol';
import type { TetherClientOptions } from './client-options.js';
import type { ClientTransport, TransportFactory } from './transports/transport.js';

/** HTTP headers as the `headers` option gives them. */
export type HeaderRecord = Record<string, string>;

/**
 * Throws a `TypeError` naming the first header Node would refuse to send (a bad name, a value
 * that is not a string or holds a line break), so the mistake shows where it is made rather
 * than as a failed connection.
 */
function validated(headers: unknown): HeaderRecord {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    throw new TypeError('headers must be an object of header names to string values');
  for (const [name, value] of Object.entries(headers)) {
    validateHeaderName(name);
    if (typeof value !== 'string') throw new TypeError(`headers: the value of "${name}" must be a string`);
    validateHeaderValue(name, value);
  }
  return headers as HeaderRecord;
}

/**
 * The `headers` option as a function called on each connect attempt, or undefined when there
 * are none. A record is checked now: a bad one throws from the client's constructor.
 *
 * @example
 * const current = headerSource({ cookie: 'sid=abc' }); // current!() -> { cookie: 'sid=abc' }
 */
export function headerSource(option: TetherClientOptions['headers']): (() => HeaderRecord) | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'function') return () => validated(option());
  const headers = { ...validated(option) };
  return () => headers;
}

/**
 * A `fetch` that adds `headers` to every request; the transport's own headers (`accept`,
 * `content-type`) win over the app's of the same name.
 *
 * @example
 * const get = fetchWithHeaders(fetch, { cookie: 'sid=abc' });
 */
export function fetchWithHeaders(base: typeof fetch, headers: HeaderRecord): typeof fetch {
  return (input, init) => {
    const merged = new Headers(headers);
    new Headers(init?.headers).forEach((value, name) => {
      merged.set(name, value);
    });
    return base(input, { ...init, headers: merged });
  };
}

/**
 * A transport factory that reads the current headers on each connect attempt and builds the
 * transport with them. When the app's `headers()` throws (or returns headers Node refuses),
 * the attempt closes with `UNAUTHORIZED` (4401): the client reports the error and stops, as
 * for a refused handshake, instead of retrying a mistake forever.
 *
 * @example
 * const sse = withHeaders('sse', current, (headers) => sseTransport({ fetch: fetchWithHeaders(fetch, headers) }));
 */
export function withHeaders(
  kind: ClientTransport['kind'],
  current: () => HeaderRecord,
  make: (headers: HeaderRecord) => TransportFactory,
): TransportFactory {
  return (request) => {
    let headers: HeaderRecord;
    try {
      headers = current();
    } catch (err) {
      return failedAttempt(kind, `headers() failed: ${(err as Error).message}`, request.events.onClose);
    }
    return make(headers)(request);
  };
}

/** A transport that never opens and reports `reason` as a fatal close in the next microtask. */
function failedAttempt(
  kind: ClientTransport['kind'],
  reason: string,
  onClose: (code: number, reason: string) => void,
): ClientTransport {
  let closed = false;
  queueMicrotask(() => {
    if (!closed) onClose(CloseCode.Unauthorized, reason);
  });
  return {
    kind,
    send() {},
    close() {
      closed = true;
    },
  };
}
