import { type TetherClient, type TetherClientOptions, TetherError } from '@tether/client';
import { msgpackCodec } from '@tether/client/msgpack';
import { deferred } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, until, waitForState } from './harness.js';

// A well-formed request whose payload the server refuses is answered with an error reply for its
// id (BAD_MESSAGE); the connection and its other requests carry on (docs/protocol.md). Truly
// malformed frames still close with 4000 (security.test.ts).

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Nested arrays `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

const protoKey = () => JSON.parse('{"__proto__":{"admin":true}}') as unknown;
const constructorPrototype = () => ({ constructor: { prototype: { admin: true } } });

async function server(): Promise<{ node: TestNode; release: () => void; echoes: unknown[] }> {
  const node = await startNode();
  cleanups.push(() => node.close());
  const gate = deferred();
  cleanups.push(() => gate.resolve());
  const echoes: unknown[] = [];
  node.tether.on('connection', (conn) => {
    conn.on('slow', async () => {
      await gate.promise;
      return 'done';
    });
    conn.on('echo', (data) => {
      echoes.push(data);
      return data;
    });
  });
  return { node, release: () => gate.resolve(), echoes };
}

const clients: Array<[string, TetherClientOptions, Array<[string, () => unknown]>]> = [
  [
    'WebSocket, JSON',
    { transports: ['websocket'] },
    [
      ['a __proto__ key', protoKey],
      ['constructor.prototype', constructorPrototype],
      ['nesting past 64 levels', () => nested(100)],
    ],
  ],
  [
    'WebSocket, msgpack',
    { transports: ['websocket'], codec: msgpackCodec },
    [
      ['constructor.prototype', constructorPrototype],
      ['nesting past 64 levels', () => nested(100)],
    ],
  ],
  [
    'SSE, JSON',
    { transports: ['sse'] },
    [
      ['a __proto__ key', protoKey],
      ['constructor.prototype', constructorPrototype],
      ['nesting past 64 levels', () => nested(100)],
    ],
  ],
];

describe.each(clients)('a refused request over %s', (_name, options, payloads) => {
  it.each(payloads)(
    'with %s is answered BAD_MESSAGE by id; a request running beside it is answered; nothing is resent',
    async (_what, payload) => {
      const { node, release, echoes } = await server();
      const client: TetherClient = node.client(options);
      await waitForState(client, 'open');
      const connectionId = client.connectionId;
      const slow = client.request('slow', null, { timeout: 10_000, retries: 2 });
      // Sent in the same tick: over SSE both travel in one POST body.
      const poisoned = client.request('echo', payload(), { timeout: 10_000, retries: 2 });
      const fine = client.request('echo', 'fine', { timeout: 10_000 });
      const refusal = await rejectionOf(poisoned);
      expect(refusal).toBeInstanceOf(TetherError);
      expect(refusal.code).toBe('BAD_MESSAGE');
      await expect(fine).resolves.toBe('fine');
      release();
      await expect(slow).resolves.toBe('done');
      expect(echoes).toEqual(['fine']);
      expect(client.connectionId).toBe(connectionId);
      expect(client.state).toBe('open');
      const metrics = node.tether.metrics();
      expect(metrics.connectionsOpened).toBe(1);
      expect(metrics.messages.rejected).toBe(1);

      // A reconnect resends what is pending, never the refused request: its error was final.
      for (const conn of node.tether.connections.values()) conn.close(CloseCode.InternalError, 'test drop');
      await waitForState(client, 'reconnecting');
      await waitForState(client, 'open');
      await expect(client.request('echo', 'after')).resolves.toBe('after');
      expect(node.tether.metrics().messages.rejected).toBe(1);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    },
  );
});

describe('refused requests on a raw WebSocket', () => {
  it('answers each by id, keeps the socket, and still closes frames that are not a request envelope with 4000', async () => {
    const { node } = await server();
    const ws = new WebSocket(node.url.replace(/^http/, 'ws'), ['tether.v1.json']);
    cleanups.push(() => ws.terminate());
    const replies = new Map<string, { t: string; c?: string; d?: unknown }>();
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { t: string; id?: string; c?: string; d?: unknown };
      if (message.id) replies.set(message.id, message);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('{"t":"hello"}');
    const refused: Array<[string, string]> = [
      ['proto', '{"t":"req","id":"proto","e":"echo","d":{"\\u005f_proto__":{"admin":true}}}'],
      ['ctor', '{"t":"req","id":"ctor","e":"echo","d":{"constructor":{"prototype":{}}}}'],
      ['deep', `{"t":"req","id":"deep","e":"echo","d":${'['.repeat(5_000)}${']'.repeat(5_000)}}`],
      ['no-event', '{"t":"req","id":"no-event","e":"","d":1}'],
      ['bad-acks', '{"t":"req","id":"bad-acks","e":"echo","d":1,"ak":[5]}'],
    ];
    for (const [, frame] of refused) ws.send(frame);
    ws.send('{"t":"req","id":"fine","e":"echo","d":7}');
    await until(() => replies.has('fine'), 5_000, 'the reply behind the refused requests');
    for (const [id] of refused) expect(replies.get(id), id).toMatchObject({ t: 'err', c: 'BAD_MESSAGE' });
    expect(replies.get('fine')).toEqual({ t: 'res', id: 'fine', d: 7 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();

    // Without a usable id there is nothing to answer: the frame is malformed and closes 4000.
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('{"t":"req","id":"","e":"echo","d":{"\\u005f_proto__":{}}}');
    expect(await closed).toBe(CloseCode.BadMessage);
  });

  it('counts refused requests against the rate limit', async () => {
    const node = await startNode({ rateLimit: { burst: 5, perSecond: 1, initialTokens: 5 } });
    cleanups.push(() => node.close());
    const ws = new WebSocket(node.url.replace(/^http/, 'ws'), ['tether.v1.json']);
    cleanups.push(() => ws.terminate());
    const codes: string[] = [];
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { t: string; c?: string };
      if (message.t === 'err') codes.push(message.c!);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('{"t":"hello"}');
    for (let i = 0; i < 8; i++)
      ws.send(`{"t":"req","id":"p${i}","e":"x","d":{"constructor":{"prototype":{}}}}`);
    await until(() => codes.length === 8, 5_000, 'eight answers');
    expect(codes.filter((c) => c === 'BAD_MESSAGE').length).toBeGreaterThan(0);
    expect(codes).toContain('RATE_LIMITED');
  });
});
