import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { WsInternals } from './ws-internals.js';

describe('WsInternals', () => {
  it('finds the frame builder of the ws this package pins', () => {
    expect(WsInternals.detect()).toBeInstanceOf(WsInternals);
  });

  it('declines, so the public API is used, where a socket lacks the internals (as on Bun)', () => {
    const internals = WsInternals.detect()!;
    const bare = {} as WebSocket;
    expect(internals.sendPrepared(bare, Buffer.from('x'), 1)).toBe(false);
    expect(WsInternals.socketOf(bare)).toBeUndefined();
  });

  it('sends one prepared frame per call over a real socket, reusing the frame for the same payload', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const [server] = await accepted;
    await once(client, 'open');
    const internals = WsInternals.detect()!;
    expect(WsInternals.socketOf(server)).toBeDefined();
    const got: string[] = [];
    const two = new Promise<void>((resolve) =>
      client.on('message', (data) => {
        got.push(String(data));
        if (got.length === 2) resolve();
      }),
    );
    const payload = Buffer.from('hello');
    expect(internals.sendPrepared(server, payload, 1)).toBe(true);
    expect(internals.sendPrepared(server, payload, 1)).toBe(true);
    await two;
    expect(got).toEqual(['hello', 'hello']);
    client.close();
    await once(client, 'close');
    wss.close();
    http.close();
  });

  it('frees the emptied read list of a socket that got a message, and the socket still reads', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const [server] = await accepted;
    await once(client, 'open');
    const received: string[] = [];
    server.on('message', (data) => received.push(String(data)));
    client.send('one');
    await new Promise<void>((resolve) => server.once('message', () => resolve()));
    const receiver = (server as unknown as { _receiver: { _buffers: unknown[] } })._receiver;
    expect(receiver._buffers).toHaveLength(0);
    WsInternals.releaseReadBuffers(server);
    expect(receiver._buffers).toHaveLength(0);
    client.send('two');
    await new Promise<void>((resolve) => server.once('message', () => resolve()));
    expect(received).toEqual(['one', 'two']);
    WsInternals.releaseReadBuffers({} as WebSocket); // no internals: nothing to do
    client.close();
    await once(client, 'close');
    wss.close();
    http.close();
  });
});
