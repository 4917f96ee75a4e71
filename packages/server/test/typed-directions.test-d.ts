import { TetherClient } from '@tether/client';
import { describe, expectTypeOf, it } from 'vitest';
import { TetherServer } from '../src/index.js';

type Events = {
  'chat:send': { from: 'client'; data: { text: string }; reply: { ok: boolean } };
  typing: { from: 'client'; data: { on: boolean } };
  location: { from: 'server'; data: { lat: number; lng: number } };
  confirm: { from: 'server'; data: { amount: number }; reply: boolean };
  ping: { reply: 'pong' }; // both ways, no payload
  note: { data: string | undefined }; // both ways, payload optional
  'tether:presence': { data: { name: string } };
};

describe('typed events with direction and arity', () => {
  it('client: sends client events, listens to server events', async () => {
    const client = new TetherClient<Events>('http://localhost/tether', { autoConnect: false });
    const reply = await client.request('chat:send', { text: 'hi' });
    expectTypeOf(reply).toEqualTypeOf<{ ok: boolean }>();
    client.emit('typing', { on: true }, { volatile: true });
    // @ts-expect-error a server-only event cannot be requested by the client
    void client.request('confirm', { amount: 1 });
    // @ts-expect-error nor emitted
    client.emit('location', { lat: 1, lng: 2 });
    // @ts-expect-error the map declares a payload: it cannot be left out
    void client.request('chat:send');
    // @ts-expect-error nor for an emit
    client.emit('typing');
    expectTypeOf(await client.request('ping')).toEqualTypeOf<'pong'>();
    client.emit('note');
    client.emit('note', 'hello');
    client.on('location', (data) => {
      expectTypeOf(data).toEqualTypeOf<{ lat: number; lng: number }>();
    });
    client.on('confirm', (data) => data.amount > 0);
    // @ts-expect-error a client-only event never arrives at the client
    client.on('chat:send', () => {});
  });

  it('rooms: listen to server events, presence data typed', async () => {
    const client = new TetherClient<Events>('http://localhost/tether', { autoConnect: false });
    const room = await client.join('order:42');
    room.on('location', (data, meta) => {
      expectTypeOf(data.lat).toEqualTypeOf<number>();
      expectTypeOf(meta.offset).toEqualTypeOf<number>();
    });
    // @ts-expect-error a client-only event is not a room message
    room.on('typing', () => {});
    const members = await room.presence();
    expectTypeOf(members[0]!.data).toEqualTypeOf<{ name: string }>();
    room.on('tether:presence', (change) => {
      expectTypeOf(change.member.data.name).toEqualTypeOf<string>();
    });
  });

  it('server: handles client events, sends server events', async () => {
    const tether = new TetherServer<Events, { userId: string }>({
      presenceData: (conn) => ({ name: conn.data.userId }),
    });
    tether.on('connection', (conn) => {
      conn.on('chat:send', (data) => {
        expectTypeOf(data).toEqualTypeOf<{ text: string }>();
        return { ok: true };
      });
      // @ts-expect-error a server-only event is not handled on the server
      conn.on('location', () => undefined);
      conn.emit('location', { lat: 1, lng: 2 });
      // @ts-expect-error the payload is declared: required
      conn.emit('location');
      // @ts-expect-error a client-only event cannot be sent to the client
      conn.emit('typing', { on: true });
      void conn.request('confirm', { amount: 3 }).then((ok) => expectTypeOf(ok).toEqualTypeOf<boolean>());
      // @ts-expect-error the payload is declared: required
      void conn.request('confirm');
    });
    void tether.to('order:42').emit('location', { lat: 1, lng: 2 }, { volatile: true });
    // @ts-expect-error the payload is declared: required
    void tether.to('order:42').emit('location');
    // @ts-expect-error a client-only event is not broadcast
    void tether.to('order:42').emit('typing', { on: true });
    const members = await tether.in('order:42').presence();
    expectTypeOf(members[0]!.data).toEqualTypeOf<{ name: string }>();
    // @ts-expect-error presenceData must return the map's presence type
    new TetherServer<Events>({ presenceData: () => ({ nick: 1 }) });
  });

  it('keeps the shared map of API.md working both ways', async () => {
    type Shared = {
      'chat:send': { data: { text: string }; reply: { ok: boolean } };
      location: { data: { lat: number; lng: number } };
    };
    const client = new TetherClient<Shared>('http://localhost/tether', { autoConnect: false });
    expectTypeOf(await client.request('chat:send', { text: 'hi' })).toEqualTypeOf<{ ok: boolean }>();
    client.on('location', (data) => expectTypeOf(data.lat).toEqualTypeOf<number>());
    const untyped = new TetherClient('http://localhost/tether', { autoConnect: false });
    untyped.emit('anything');
    untyped.emit('anything', { x: 1 });
    expectTypeOf(await untyped.request('anything')).toEqualTypeOf<unknown>();
  });
});
