import type { IncomingMessage, ServerResponse } from 'node:http';

/** Methods of the endpoints under `path` (the SSE stream, its POSTs and DELETE, the EventSource). */
const METHODS = 'GET, POST, DELETE, OPTIONS';
/** Request headers a page's `fetch` may send to them (the stream asks with `accept`, resumes with `last-event-id`). */
const HEADERS = 'content-type, accept, last-event-id, cache-control';
/** How long a browser may reuse a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE = 600;

/**
 * CORS for every HTTP endpoint under `path`, governed by `allowedOrigins` (docs/security.md):
 *
 * - a request from an allowed origin gets `Access-Control-Allow-Origin: <its origin>` with
 *   credentials allowed (the SSE fallback and plain EventSource work from that page, cookies
 *   included);
 * - a refusal (status 400 and up) names the requesting origin too, whatever it is, so the page can
 *   read why it was refused (the body holds a code and a message, nothing else) instead of
 *   reconnecting in silence;
 * - a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here: 204 with the
 *   methods and headers for an allowed origin, 403 otherwise.
 *
 * Returns true when it answered the request itself (a preflight).
 *
 * @example
 * if (applyCors(req, res, admission.originAllowed(req))) return;
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, allowed: boolean): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === '') return false;
  res.setHeader('vary', 'Origin');
  if (allowed) {
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-allow-credentials', 'true');
  } else {
    nameOriginOnRefusal(res, origin);
  }
  if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined) return false;
  if (!allowed) {
    res.writeHead(403, { 'content-length': 0 }).end();
    return true;
  }
  res
    .writeHead(204, {
      'access-control-allow-methods': METHODS,
      'access-control-allow-headers': HEADERS,
      'access-control-max-age': String(PREFLIGHT_MAX_AGE),
      'content-length': 0,
    })
    .end();
  return true;
}

/** Adds the origin to the response's headers only if the status written is a refusal. */
function nameOriginOnRefusal(res: ServerResponse, origin: string): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (status >= 400) {
      this.setHeader('access-control-allow-origin', origin);
      this.setHeader('access-control-allow-credentials', 'true');
    }
    return (writeHead as (status: number, ...args: unknown[]) => ServerResponse).call(this, status, ...rest);
  } as ServerResponse['writeHead'];
}
