import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { CloseCode, type Connection, TetherServer } from '@tether/server';
import { waitFor } from '@tether/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRoom } from '../src/room-registry.js';

let http: Server;
let tether: TetherServer;
let client: TetherClient;
let joins: string[];
/** Rooms `authorizeJoin` refuses from now on, beside every `secret:` room. */
let refusing: Set<string>;
let conns: Connection[];

beforeEach(async () => {
  joins = [];
  refusing = new Set();
  conns = [];
  http = createServer();
  tether = new TetherServer({
    server: http,
    authorizeJoin: (_conn, room) => {
      joins.push(room);
      return !room.startsWith('secret:') && !refusing.has(room);
    },
  });
  tether.on('connection', (conn) => {
    conns.push(conn);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  client = new TetherClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`);
});

afterEach(async () => {
  client.close();
  await tether.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

const members = (room: string) => tether.in(room).presence();

describe('shared room joins', () => {
  it('keeps one join through a release and acquire in the same task (StrictMode remount)', async () => {
    const first = acquireRoom(client, 'chat:1');
    first.release();
    const again = acquireRoom(client, 'chat:1');
    expect(again).toBe(first);
    await waitFor(() => again.view.status === 'joined');
    expect(joins).toEqual(['chat:1']);
    expect(await members('chat:1')).toHaveLength(1);
    again.release();
  });

  it('leaves only when the last user releases, after the join was answered', async () => {
    const a = acquireRoom(client, 'chat:2');
    const b = acquireRoom(client, 'chat:2');
    a.release();
    await waitFor(() => b.view.status === 'joined');
    expect(await members('chat:2')).toHaveLength(1);
    b.release();
    await waitFor(() => b.view.status === 'left');
    await waitFor(async () => (await members('chat:2')).length === 0);
    expect(joins).toEqual(['chat:2']);
  });

  it('leaves a join released before its answer as soon as the answer comes', async () => {
    const entry = acquireRoom(client, 'chat:3');
    entry.release();
    await waitFor(() => entry.view.status === 'left');
    await waitFor(async () => (await members('chat:3')).length === 0);
  });

  it('reports a refused join as an error, and the next acquire tries again', async () => {
    const entry = acquireRoom(client, 'secret:1');
    await waitFor(() => entry.view.status === 'error');
    expect(entry.view.error).toMatchObject({ code: 'JOIN_REFUSED' });
    entry.release();
    const retry = acquireRoom(client, 'secret:1');
    expect(retry).not.toBe(entry);
    await waitFor(() => retry.view.status === 'error');
    expect(joins).toEqual(['secret:1', 'secret:1']);
    retry.release();
  });

  it('goes rejoining on a drop, and reports a refused rejoin as an error', async () => {
    const entry = acquireRoom(client, 'chat:4');
    await waitFor(() => entry.view.status === 'joined');
    const statuses: string[] = [];
    entry.subscribe(() => statuses.push(entry.view.status));
    refusing.add('chat:4');
    conns[0]!.close(CloseCode.InternalError, 'drop for the test');
    await waitFor(() => entry.view.status === 'error');
    expect(statuses).toEqual(['rejoining', 'error']);
    expect(entry.view.room).toBeNull();
    expect(entry.view.error).toMatchObject({ code: 'JOIN_REFUSED' });
    entry.release();
    // The next acquire tries again, and joins once the server allows it.
    refusing.clear();
    const retry = acquireRoom(client, 'chat:4');
    expect(retry).not.toBe(entry);
    await waitFor(() => retry.view.status === 'joined');
    retry.release();
  });
});
