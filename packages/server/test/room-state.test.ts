import type { Room, RoomState, TetherClient, TetherError } from '@tether/client';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, type Connection, ErrorCode } from '../src/index.js';
import { rejectionOf, startNode, type TestNode, waitForState } from './harness.js';

// A room handle's state over real sockets: `room.state` and every change told by
// `room.on('tether:state')`, through a drop and rejoin, a refused rejoin, a server-side leave,
// the app's leave and the client's close.

let node: TestNode | undefined;

afterEach(async () => {
  await node?.close();
  node = undefined;
});

/** A node whose `authorizeJoin` consults `allowed`, and the server-side connections it accepted. */
async function start(allowed: (room: string) => boolean = () => true) {
  const conns: Connection[] = [];
  node = await startNode({ authorizeJoin: (_conn, room) => allowed(room) });
  node.tether.on('connection', (conn) => {
    conns.push(conn);
  });
  return { node, conns };
}

/** Joins `name` and records every state change of the handle from then on. */
async function joinRecording(client: TetherClient, name: string) {
  const room = (await client.join(name)) as Room;
  const states: RoomState[] = [];
  room.on('tether:state', (state) => states.push(state));
  return { room, states };
}

describe('room state', () => {
  it('is joined after the join, rejoining after a drop, joined again after the rejoin', async () => {
    const { node, conns } = await start();
    const client = node.client();
    const { room, states } = await joinRecording(client, 'chat:1');
    expect(room.state).toBe('joined');

    const rejoined = new Promise((resolve) => room.on('tether:rejoined', resolve));
    conns[0]!.close(CloseCode.InternalError, 'drop for the test');
    await rejoined;
    expect(states).toEqual(['rejoining', 'joined']);
    expect(room.state).toBe('joined');

    // Still a working room: a message after the rejoin arrives.
    const got = new Promise((resolve) => room.on('news', resolve));
    await node.tether.to('chat:1').emit('news', { n: 1 });
    expect(await got).toEqual({ n: 1 });
  });

  it('is refused when the server refuses the rejoin; the client hears the error too', async () => {
    let open = true;
    const { node, conns } = await start(() => open);
    const client = node.client();
    const errors: TetherError[] = [];
    client.on('error', (err) => errors.push(err));
    const { room, states } = await joinRecording(client, 'chat:2');
    const refused = new Promise<void>((resolve) =>
      room.on('tether:state', (state) => state === 'refused' && resolve()),
    );

    open = false;
    conns[0]!.close(CloseCode.InternalError, 'drop for the test');
    await refused;
    expect(states).toEqual(['rejoining', 'refused']);
    expect(room.state).toBe('refused');
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.JoinRefused]);
    expect((await rejectionOf(room.presence())).code).toBe(ErrorCode.JoinRefused);

    // The name is free again: a new join makes a new handle once the server allows it.
    open = true;
    const again = await client.join('chat:2');
    expect(again).not.toBe(room);
    expect(again.state).toBe('joined');
  });

  it('is left when the server removes the connection from the room', async () => {
    const { node, conns } = await start();
    const client = node.client();
    const { room, states } = await joinRecording(client, 'chat:3');
    const left = new Promise<void>((resolve) =>
      room.on('tether:state', (state) => state === 'left' && resolve()),
    );
    await conns[0]!.leave('chat:3');
    await left;
    expect(states).toEqual(['left']);
    // A join after that is a new handle, joined again on the server.
    const again = await client.join('chat:3');
    expect(again).not.toBe(room);
    expect(await node.tether.in('chat:3').presence()).toHaveLength(1);
  });

  it("is left after the app's leave and after the client's close, told once each", async () => {
    const { node } = await start();
    const client = node.client();
    const a = await joinRecording(client, 'chat:4');
    const b = await joinRecording(client, 'chat:5');
    a.room.leave();
    a.room.leave();
    expect(a.states).toEqual(['left']);
    expect(a.room.state).toBe('left');

    client.close();
    await waitForState(client, 'closed');
    expect(b.states).toEqual(['left']);
    expect(b.room.state).toBe('left');
  });
});
