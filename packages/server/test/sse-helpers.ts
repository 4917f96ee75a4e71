import type { TetherClient } from '@tether/client';
import { TcpProxy } from '@tether/test-utils';
import { expect } from 'vitest';
// The client's stream reader (eventsource-parser 3), used here to read streams the way a client does.
import { TetherClientBase } from '../../client/src/tether-client.js';
import { sseTransport } from '../../client/src/transports/sse.js';
import { type EventSourceMessage, readEventStream } from '../../client/src/transports/sse-reader.js';
import type { Bus, TetherServerOptions } from '../src/index.js';
import { startNode, until, waitForState } from './harness.js';

export type { EventSourceMessage };

/** An event stream read by the test: every event so far, and a way to wait for more. */
export interface RawStream {
  response: Response;
  events: EventSourceMessage[];
  /** Resolves when the server ends the stream (or it breaks). */
  ended: Promise<void>;
  /** Waits until an event matches, and returns it. */
  next(match: (event: EventSourceMessage) => boolean, timeout?: number): Promise<EventSourceMessage>;
  /** Aborts the request. */
  close(): void;
}

/** Opens an event stream with fetch (any status: check `response.status`). */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const events: EventSourceMessage[] = [];
  // A refusal's body is left for the test to read.
  const ended =
    response.ok && response.body
      ? readEventStream(response.body, (event) => events.push(event)).catch(() => {})
      : Promise.resolve();
  return {
    response,
    events,
    ended,
    async next(match, timeout = 3_000) {
      let found: EventSourceMessage | undefined;
      await until(() => (found = events.find(match)) !== undefined, timeout, 'an event on the stream');
      return found!;
    },
    close: () => abort.abort(),
  };
}

/** The Tether client stream, opened by hand: its token, and POST/DELETE bound to it. */
export interface RawSession extends RawStream {
  token: string;
  post(body: string): Promise<Response>;
  /** The protocol messages received so far (plain data events), decoded. */
  messages(): Array<Record<string, unknown>>;
}

export async function openSession(endpoint: string): Promise<RawSession> {
  const stream = await openStream(`${endpoint}?transport=sse`);
  expect(stream.response.status).toBe(200);
  const open = await stream.next((e) => e.event === 'open');
  const { token } = JSON.parse(open.data) as { token: string };
  return {
    ...stream,
    token,
    post: (body) =>
      fetch(`${endpoint}?transport=sse&token=${encodeURIComponent(token)}`, { method: 'POST', body }),
    messages: () => stream.events.filter((e) => e.event === undefined).map((e) => JSON.parse(e.data)),
  };
}

/** Reads a Tether JSON error body. */
export async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

/**
 * A fetch that closes its connection after each request, so every POST through a round-robin
 * proxy opens a new connection and lands on the next node (a shared keep-alive pool would pin
 * them all to one node).
 */
const fetchWithoutKeepAlive: typeof fetch = (input, init = {}) =>
  fetch(input, {
    ...init,
    headers: { ...(init.headers as Record<string, string> | undefined), connection: 'close' },
  });

/** An SSE-only client whose POSTs never reuse a connection. */
function roamingClient(url: string): TetherClientBase {
  return new TetherClientBase(
    url,
    { transports: ['sse'], reconnect: { initialDelay: 50, maxDelay: 200 } },
    { transports: { sse: sseTransport({ fetch: fetchWithoutKeepAlive }) } },
  );
}

/**
 * Two nodes on one bus behind a round-robin proxy (no sticky sessions), each POST on a new
 * connection: POSTs alternate between the nodes whatever node holds the stream, yet requests
 * are answered in order, room messages arrive, and the close reaches the stream's node.
 * `makeBus(i)` gives node i its bus (the same instance twice for MemoryBus, one each for RedisBus).
 */
export async function twoNodesBehindRoundRobin(
  makeBus: (i: number) => Bus,
  closeBuses: () => Promise<void>,
): Promise<void> {
  const options = (i: number): TetherServerOptions => ({
    bus: makeBus(i),
    authorizeJoin: (_c, room) => room === 'r',
  });
  const nodes = [await startNode(options(0)), await startNode(options(1))];
  const proxy = await TcpProxy.start({ targets: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) });
  const clients: TetherClientBase[] = [];
  try {
    const posts = [0, 0];
    const closes: string[] = [];
    const seen: number[] = [];
    nodes.forEach((node, i) => {
      // Tether's requests never reach the app's 'request' listeners: count them where they enter.
      const emit = node.http.emit;
      node.http.emit = function (this: typeof node.http, event: string | symbol, ...args: unknown[]) {
        if (event === 'request' && (args[0] as { method?: string }).method === 'POST') posts[i]!++;
        return (emit as (event: string | symbol, ...rest: unknown[]) => boolean).call(this, event, ...args);
      } as typeof node.http.emit;
      node.tether.on('connection', (conn) => {
        conn.on('whoami', () => i);
        conn.on('n', (d) => void seen.push(d as number));
        conn.on('say', async (text) => {
          await conn.to('r').emit('said', text);
          return 'sent';
        });
        conn.on('close', (reason) => closes.push(reason));
      });
    });
    const client = () => {
      const c = roamingClient(proxy.url('/tether'));
      clients.push(c);
      return c;
    };
    const holder = (c: TetherClientBase) =>
      nodes.findIndex((n) => n.tether.connections.has(c.connectionId ?? ''));
    const [first, second] = [client(), client()];
    await Promise.all([
      waitForState(first as TetherClient, 'open'),
      waitForState(second as TetherClient, 'open'),
    ]);
    expect(await first.request('whoami')).toBe(holder(first));
    expect(await second.request('whoami')).toBe(holder(second));

    // Emits and requests in many POSTs that alternate between the nodes: still in order, once.
    for (let i = 0; i < 10; i++) {
      first.emit('n', i);
      await first.request('whoami');
    }
    await until(() => seen.length === 10, 3_000, 'every emit');
    expect(seen).toEqual([...Array(10).keys()]);

    const roomFirst = await first.join('r');
    const roomSecond = await second.join('r');
    const gotFirst: unknown[] = [];
    const gotSecond: unknown[] = [];
    roomFirst.on('said', (d) => gotFirst.push(d));
    roomSecond.on('said', (d) => gotSecond.push(d));
    await expect(first.request('say', 'from first')).resolves.toBe('sent');
    await nodes[1 - holder(second)]!.tether.to('r').emit('said', 'from the other node');
    await until(() => gotSecond.length === 2 && gotFirst.length === 1, 3_000, 'room messages on both nodes');
    expect(gotSecond).toEqual(['from first', 'from the other node']);
    expect(gotFirst).toEqual(['from the other node']);
    expect(posts[0]).toBeGreaterThan(5);
    expect(posts[1]).toBeGreaterThan(5);

    // The close (a DELETE) may land on either node and still reaches the stream's node.
    first.close();
    second.close();
    await until(() => closes.length === 2, 3_000, 'both server-side closes');
    expect(closes).toEqual(['client closed', 'client closed']);
  } finally {
    for (const c of clients) c.close();
    await proxy.close();
    for (const node of nodes) await node.close();
    await closeBuses();
  }
}
