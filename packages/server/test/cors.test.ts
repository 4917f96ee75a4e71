import { afterEach, describe, expect, it } from 'vitest';
import type { Logger, TetherServerOptions } from '../src/index.js';
import { startNode, type TestNode } from './harness.js';
import { openStream } from './sse-helpers.js';

// CORS under `path`, governed by `allowedOrigins` (docs/security.md): the SSE stream, its POSTs,
// the plain EventSource and their preflights; refusals readable by the page; refusals logged.
// (tether-cors.spec.ts runs the same from a real browser on a second origin.)

const PAGE = 'http://app.example.test:8080';
const nodes: TestNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

async function node(options: TetherServerOptions = {}) {
  const logged: Array<Record<string, unknown>> = [];
  const logger: Logger = {
    debug() {},
    info: (obj: unknown, msg?: string) =>
      void (msg === 'connection refused' && logged.push(obj as Record<string, unknown>)),
    warn() {},
    error() {},
  };
  const started = await startNode({
    allowedOrigins: [PAGE],
    authenticate: (req) => (req.headers.cookie === 'sid=ok' ? { userId: 'ann' } : null),
    authorizeJoin: () => true,
    logger,
    ...options,
  });
  nodes.push(started);
  return { ...started, logged };
}

describe('CORS under path', () => {
  it('answers the preflight of an allowed origin and names it on the stream; refuses another', async () => {
    const server = await node();
    const preflight = await fetch(`${server.url}?transport=sse`, {
      method: 'OPTIONS',
      headers: {
        origin: PAGE,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'accept',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('vary')).toBe('Origin');

    const foreign = await fetch(`${server.url}?transport=sse`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.test', 'access-control-request-method': 'GET' },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-methods')).toBeNull();

    const stream = await openStream(`${server.url}?transport=sse`, { origin: PAGE, cookie: 'sid=ok' });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('access-control-allow-origin')).toBe(PAGE);
    const open = await stream.next((e) => e.event === 'open');
    const { token } = JSON.parse(open.data) as { token: string };
    const post = await fetch(`${server.url}?transport=sse&token=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { origin: PAGE },
      body: '{"t":"hello"}',
    });
    expect(post.headers.get('access-control-allow-origin')).toBe(PAGE);
    stream.close();

    const native = await openStream(`${server.url}/events?room=news`, { origin: PAGE, cookie: 'sid=ok' });
    expect(native.response.status).toBe(200);
    expect(native.response.headers.get('access-control-allow-origin')).toBe(PAGE);
    native.close();
  });

  it('refusals (401, 403, 429) carry the headers a page needs to read them, and are logged', async () => {
    const server = await node({ maxConnectionsPerIp: 1 });
    const unauthorized = await fetch(`${server.url}?transport=sse`, { headers: { origin: PAGE } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(((await unauthorized.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');

    const forbidden = await fetch(`${server.url}?transport=sse`, {
      headers: { origin: 'https://evil.test' },
    });
    expect(forbidden.status).toBe(403);
    // Only the refusal is readable there: its body is a code and a message.
    expect(forbidden.headers.get('access-control-allow-origin')).toBe('https://evil.test');

    const held = await openStream(`${server.url}?transport=sse`, { origin: PAGE, cookie: 'sid=ok' });
    await held.next((e) => e.event === 'open');
    const tooMany = await fetch(`${server.url}?transport=sse`, {
      headers: { origin: PAGE, cookie: 'sid=ok' },
    });
    expect(tooMany.status).toBe(429);
    expect(tooMany.headers.get('access-control-allow-origin')).toBe(PAGE);
    await tooMany.body?.cancel();
    held.close();

    expect(server.logged.map((l) => [l.status, l.code])).toEqual([
      [401, 'UNAUTHORIZED'],
      [403, 'FORBIDDEN'],
      [429, 'TOO_MANY_CONNECTIONS'],
    ]);
    expect(server.logged[1]).toMatchObject({ origin: 'https://evil.test' });
  });

  it('adds nothing for requests without an Origin (same-origin and non-browser clients)', async () => {
    const server = await node();
    const response = await fetch(`${server.url}?transport=sse`);
    expect(response.status).toBe(401);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    await response.body?.cancel();
  });
});
