import { TetherClient } from '@tether/client';
import { describe, expectTypeOf, it } from 'vitest';
import { TetherServer } from '../src/index.js';

type Events = {
  'chat:send': { data: { text: string }; reply: { ok: boolean } };
  location: { data: { lat: number; lng: number } };
};

describe('typed events', () => {
  it('types handlers, replies and emits on the server', () => {
    const tether = new TetherServer<Events, { userId: string }>({
      authorizeJoin: (conn) => conn.data.userId.length > 0,
    });
    tether.on('connection', (conn) => {
      expectTypeOf(conn.data).toEqualTypeOf<{ userId: string }>();
      conn.on('chat:send', (data) => {
        expectTypeOf(data).toEqualTypeOf<{ text: string }>();
        return { ok: true };
      });
      // @ts-expect-error the reply must match the map
      conn.on('chat:send', () => ({ ok: 'yes' }));
      conn.emit('location', { lat: 1, lng: 2 });
      // @ts-expect-error wrong payload
      conn.emit('location', { lat: 'north' });
      conn.on('close', (reason, code) => {
        expectTypeOf(reason).toEqualTypeOf<string>();
        expectTypeOf(code).toEqualTypeOf<number>();
      });
    });
    void tether.to('order:42').emit('location', { lat: 1, lng: 2 });
    // @ts-expect-error unknown event
    void tether.to('order:42').emit('nope', {});
  });

  it('types requests, listeners and rooms on the client', async () => {
    const client = new TetherClient<Events>('http://localhost/tether', { autoConnect: false });
    const reply = await client.request('chat:send', { text: 'hi' });
    expectTypeOf(reply).toEqualTypeOf<{ ok: boolean }>();
    // @ts-expect-error wrong payload
    void client.request('chat:send', { txt: 'hi' });
    client.on('location', (data) => {
      expectTypeOf(data).toEqualTypeOf<{ lat: number; lng: number }>();
    });
    client.on('state', (state) => {
      expectTypeOf(state).toEqualTypeOf<'connecting' | 'open' | 'reconnecting' | 'closed'>();
    });
    const room = await client.join('order:42');
    room.on('location', (data, meta) => {
      expectTypeOf(data.lat).toEqualTypeOf<number>();
      expectTypeOf(meta.offset).toEqualTypeOf<number>();
    });
  });

  it('infers conn.data from authenticate, as in the API example', () => {
    const tether = new TetherServer({
      authenticate: async () => ({ userId: '42' }),
      authorizeJoin: (conn, room) => room === `user:${conn.data.userId}`,
    });
    tether.on('connection', (conn) => {
      expectTypeOf(conn.data.userId).toEqualTypeOf<string>();
    });
  });

  it('keeps untyped use simple: everything is unknown', async () => {
    const client = new TetherClient('http://localhost/tether', { autoConnect: false });
    const reply = await client.request('anything', { x: 1 });
    expectTypeOf(reply).toEqualTypeOf<unknown>();
    const tether = new TetherServer();
    tether.on('connection', (conn) => {
      conn.on('whatever', (data) => {
        expectTypeOf(data).toEqualTypeOf<unknown>();
        return 1;
      });
    });
  });
});
