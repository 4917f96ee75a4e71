import { TetherClient } from '@tether/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { once, ScriptedServer, type ScriptedSocket } from './scripted-server.js';

// Gaps while connected (docs/protocol.md, "Gaps"), against a server scripted by hand over a real
// socket: an offset jump is filled by a resume, `p` marks skips on purpose, `gap` is reported.

let server: ScriptedServer;
let client: TetherClient | undefined;

beforeEach(async () => {
  server = await ScriptedServer.start();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await server.close();
});

async function joinedRoom(position = { ep: 'e1', off: 3 }) {
  const c = (client = new TetherClient(server.url, { transports: ['websocket'] }));
  const socket = await server.nextConnection();
  await socket.welcome();
  const joining = c.join('r');
  const join = await socket.next('join');
  socket.send({ t: 'res', id: join.id, d: position });
  const room = await joining;
  const got: number[] = [];
  const events: string[] = [];
  room.on('m', (_d, meta) => {
    got.push(meta.offset);
    events.push(`m${meta.offset}`);
  });
  room.on('tether:rejoined', ({ recovered }) => events.push(`rejoined:${recovered}`));
  c.on('tether:recovery-failed', ({ room: name }) => events.push(`failed:${name}`));
  return { c, socket, room, got, events };
}

describe('gaps while connected', () => {
  it('an offset jump is not stepped over: the client resumes the room from its position', async () => {
    const { socket, got, events } = await joinedRoom();
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 4 });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 7 }); // 5 and 6 never came
    const resume = await socket.next('join');
    expect(resume).toMatchObject({ r: 'r', ep: 'e1', off: 4 });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 8 }); // before the reply: dropped, the replay brings it
    socket.send({ t: 'res', id: resume.id, d: { ep: 'e1', off: 8, rec: 1 } });
    for (const off of [5, 6, 7, 8, 9]) socket.send({ t: 'msg', r: 'r', e: 'm', off });
    await vi.waitUntil(() => got.length === 6);
    expect(got).toEqual([4, 5, 6, 7, 8, 9]);
    expect(events).toContain('rejoined:true');
    expect(events.some((e) => e.startsWith('failed'))).toBe(false);
  });

  it('a skip the server marks with p is taken as it is', async () => {
    const { socket, got, events } = await joinedRoom();
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 4 });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 6, p: 4 }); // 5 was not for this client
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 7 });
    await vi.waitUntil(() => got.length === 3);
    expect(got).toEqual([4, 6, 7]);
    expect(socket.all('join')).toHaveLength(1);
    expect(events).toEqual(['m4', 'm6', 'm7']);
  });

  it('a resume that history cannot cover is reported before the messages after it', async () => {
    const { socket, got, events } = await joinedRoom();
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 9 });
    const resume = await socket.next('join');
    socket.send({ t: 'res', id: resume.id, d: { ep: 'e1', off: 9, rec: 0 } });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 10 });
    await vi.waitUntil(() => got.length === 1);
    expect(events).toEqual(['rejoined:false', 'failed:r', 'm10']);
  });

  it("the server's gap notice is reported on the handle and the client before the next message", async () => {
    const { socket, got, events, room } = await joinedRoom();
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 4 });
    socket.send({ t: 'gap', r: 'r', ep: 'e1', off: 9 });
    socket.send({ t: 'msg', r: 'r', e: 'm', off: 10, p: 4 });
    await vi.waitUntil(() => got.length === 2);
    expect(events).toEqual(['m4', 'rejoined:false', 'failed:r', 'm10']);
    expect(room.recovered).toBe(false);
    expect(socket.all('join')).toHaveLength(1);
  });

  it('a server-joined room resumes after a jump too, and reports a failed resume', async () => {
    const c = (client = new TetherClient(server.url, { transports: ['websocket'] }));
    const socket: ScriptedSocket = await server.nextConnection();
    await socket.welcome();
    const got: number[] = [];
    const order: string[] = [];
    c.on('m', (_d, meta) => {
      got.push(meta?.offset ?? -1);
      order.push(`m${meta?.offset}`);
    });
    c.on('tether:recovery-failed', ({ room }) => order.push(`failed:${room}`));
    socket.send({ t: 'joined', r: 's', ep: 'e1', off: 2 });
    socket.send({ t: 'msg', r: 's', e: 'm', off: 3 });
    socket.send({ t: 'msg', r: 's', e: 'm', off: 6 });
    const resume = await socket.next('join');
    expect(resume).toMatchObject({ r: 's', ep: 'e1', off: 3 });
    const failed = once<{ room: string }>((l) => c.on('tether:recovery-failed', l));
    socket.send({ t: 'res', id: resume.id, d: { ep: 'e1', off: 6, rec: 0 } });
    await failed;
    socket.send({ t: 'msg', r: 's', e: 'm', off: 7 });
    await vi.waitUntil(() => got.length === 2);
    expect(order).toEqual(['m3', 'failed:s', 'm7']);
  });
});
