import type { IncomingMessage } from 'node:http';

/**
 * Which browser origins may open a connection (the `allowedOrigins` server option):
 *
 * - `'same-origin'` (default): the `Origin` header's host equals the request's `Host` header;
 * - a list of origins (`'https://app.example.com'`): exactly those;
 * - a function: it decides, given the `Origin` header (undefined when absent) and the request;
 * - `'*'`: every origin. Unsafe when `authenticate` trusts cookies: any site the user visits can
 *   then open a connection in the user's name (Cross-Site WebSocket Hijacking).
 *
 * Except with a function, a request without an `Origin` header is allowed: browsers always send
 * one on WebSocket upgrades and cross-origin requests, so its absence means a non-browser client,
 * which could send any `Origin` it liked anyway. The check protects browser users' ambient
 * credentials (cookies, client certificates), not the server from arbitrary programs.
 */
export type AllowedOrigins =
  | 'same-origin'
  | '*'
  | readonly string[]
  | ((origin: string | undefined, req: IncomingMessage) => boolean);

/** A compiled `allowedOrigins`: true when the request may proceed. */
export type OriginCheck = (req: IncomingMessage) => boolean;

/**
 * Compiles an `allowedOrigins` option into a check. List entries are normalized once (scheme and
 * host lowercased, default port dropped), so `'https://App.example.com:443'` matches the header
 * `https://app.example.com`.
 *
 * @example
 * const allowed = originCheck(['https://app.example.com']);
 * if (!allowed(req)) refuse(403);
 */
export function originCheck(option: AllowedOrigins = 'same-origin'): OriginCheck {
  if (option === '*') return () => true;
  if (typeof option === 'function') {
    return (req) => {
      try {
        return option(originOf(req), req) === true;
      } catch {
        // A check that throws refuses: failing open would defeat its purpose.
        return false;
      }
    };
  }
  if (option === 'same-origin') {
    return (req) => {
      const origin = originOf(req);
      return origin === undefined || isSameOrigin(origin, req.headers.host);
    };
  }
  const allowed = new Set<string>();
  for (const entry of option) {
    const normalized = normalizeOrigin(entry);
    if (normalized === undefined) throw new TypeError(`allowedOrigins: "${entry}" is not an origin`);
    allowed.add(normalized);
  }
  return (req) => {
    const origin = originOf(req);
    if (origin === undefined) return true;
    const normalized = normalizeOrigin(origin);
    return normalized !== undefined && allowed.has(normalized);
  };
}

/**
 * True when an `Origin` header names the same host (and port) as a `Host` header. The scheme is
 * not compared (the `Host` header has none): a page on `http://h` may reach `wss://h`.
 *
 * @example
 * isSameOrigin('https://example.com', 'example.com'); // true
 * isSameOrigin('https://evil.test', 'example.com');   // false
 */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (sandboxed frames, file:) and garbage are never same-origin
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.host === normalizeHost(host, url.protocol);
}

/** The `Origin` header, or undefined when the request has none. */
function originOf(req: IncomingMessage): string | undefined {
  const origin = req.headers.origin;
  return typeof origin === 'string' && origin !== '' ? origin : undefined;
}

function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** Lowercases a Host header and drops the scheme's default port, as `URL.host` does. */
function normalizeHost(host: string, protocol: string): string {
  const lower = host.trim().toLowerCase();
  const defaultPort = protocol === 'https:' ? ':443' : ':80';
  return lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
}
