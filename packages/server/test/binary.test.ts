import { msgpackCodec } from '@tether/client/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import { TetherError, type TetherServerOptions } from '../src/index.js';
import { startNode, type TestNode, waitForState } from './harness.js';

const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
});

async function node(options: TetherServerOptions = {}) {
  const started = await startNode({ authorizeJoin: () => true, ...options });
  nodes.push(started);
  return started;
}

const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
const at = new Date('2026-12-05T12:34:56.789Z');

describe('binary payloads', () => {
  it('carries bytes and dates both ways over msgpack, and the connection stays open', async () => {
    const server = await node();
    const seen: unknown[] = [];
    server.tether.on('connection', (conn) =>
      conn.on('upload', (data) => {
        seen.push(data);
        return data;
      }),
    );
    const client = server.client({ codec: msgpackCodec });
    const reply = (await client.request('upload', { file: bytes, at, list: [bytes, at] })) as {
      file: Uint8Array;
      at: Date;
      list: [Uint8Array, Date];
    };
    const received = seen[0] as typeof reply;
    expect(received.file).toBeInstanceOf(Uint8Array);
    expect(new Uint8Array(received.file)).toEqual(bytes);
    expect(received.at).toBeInstanceOf(Date);
    expect(received.at.getTime()).toBe(at.getTime());
    expect(reply.file).toBeInstanceOf(Uint8Array);
    expect(new Uint8Array(reply.file)).toEqual(bytes);
    expect(reply.at.getTime()).toBe(at.getTime());
    expect(new Uint8Array(reply.list[0])).toEqual(bytes);
    expect(reply.list[1].getTime()).toBe(at.getTime());
    expect(client.state).toBe('open');
  });

  it('delivers bytes in a room broadcast to msgpack members', async () => {
    const server = await node();
    const client = server.client({ codec: msgpackCodec });
    const room = await client.join('files');
    const got = new Promise<unknown>((resolve) => room.on('chunk', resolve));
    await server.tether.to('files').emit('chunk', { part: 1, bytes, at });
    const chunk = (await got) as { part: number; bytes: Uint8Array; at: Date };
    expect(new Uint8Array(chunk.bytes)).toEqual(bytes);
    expect(chunk.at.getTime()).toBe(at.getTime());
  });

  it('refuses binary on the JSON codec with a clear error instead of sending {"0":...}', async () => {
    const server = await node();
    const seen: unknown[] = [];
    server.tether.on('connection', (conn) => conn.on('upload', (data) => seen.push(data)));
    const client = server.client();
    await waitForState(client, 'open');
    // request() returns a rejected promise: it does not throw.
    const pending = client.request('upload', { file: bytes });
    const error = await pending.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(TetherError);
    expect((error as TetherError).code).toBe('BAD_MESSAGE');
    expect((error as TetherError).message).toMatch(/JSON cannot carry binary data/);
    expect(() => client.emit('upload', { file: bytes.buffer })).toThrow(/JSON cannot carry binary data/);
    // Nothing was sent, and the connection carries on.
    await expect(client.request('upload', { text: 'fine' })).resolves.toBe(1);
    expect(seen).toEqual([{ text: 'fine' }]);
  });
});
