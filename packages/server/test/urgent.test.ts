import { TetherClient } from '@tether/client';
import type { Message, RoomMessage } from '@tether/protocol';
import { fence } from '@tether/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../src/index.js';
import { startNode, until, waitForState } from './harness.js';
import { congest, rawClient, stallProxy } from './slow-reader.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node() {
  const started = await startNode({ maxBufferedBytes: 8 * 1024 * 1024, authorizeJoin: () => true });
  cleanups.push(() => started.close());
  return started;
}

/** What a message is, for order assertions: `room/event` or `event`, and its data. */
const label = (m: Message) =>
  m.t === 'msg'
    ? `${m.r}/${m.e}:${JSON.stringify(m.d)}`
    : m.t === 'evt'
      ? `${m.e}:${JSON.stringify(m.d)}`
      : m.t;

describe('urgent', () => {
  it('goes ahead of a queued backlog on the same connection', async () => {
    const server = await node();
    server.tether.on('connection', (conn) => void conn.join('ops'));
    const raw = await rawClient(server.url);
    cleanups.push(() => raw.close());
    await until(() => raw.messages.some((m) => m.t === 'joined'), 2_000, 'server-side join');
    const conn = server.tether.connections.get(raw.connId)!;
    raw.pause();
    await congest(conn);
    for (let i = 0; i < 20; i++) await server.tether.to('ops').emit('task', i);
    conn.emit('note', 'queued');
    await server.tether.to('ops').emit('alert', 'fire', { urgent: true });
    conn.emit('page', 'now', { urgent: true });
    await server.tether.to('ops').emit('task', 20);
    raw.resume();
    await until(() => raw.messages.some((m) => m.t === 'msg' && m.d === 20), 10_000, 'the last task');

    const order = raw.messages
      .filter((m) => m.t !== 'evt' || (m.e !== 'filler' && m.e !== 'probe'))
      .map(label);
    const backlog = order.slice(order.indexOf('ops/alert:"fire"'));
    expect(backlog).toEqual([
      'ops/alert:"fire"',
      'page:"now"',
      ...Array.from({ length: 20 }, (_, i) => `ops/task:${i}`),
      'note:"queued"',
      'ops/task:20',
    ]);
    const alert = raw.messages.find((m): m is RoomMessage => m.t === 'msg' && m.e === 'alert')!;
    const tasks = raw.messages.filter((m): m is RoomMessage => m.t === 'msg' && m.e === 'task');
    // Its offset is past the tasks it overtook, and it says it overtook them.
    expect(alert.off).toBeGreaterThan(tasks[19]!.off);
    expect(alert.o).toBe(1);
    expect(tasks.every((t) => t.o === undefined)).toBe(true);
  });

  it('reaches a real client ahead of its backlog; nothing is lost or repeated, also after a reconnect', async () => {
    const server = await node();
    const proxy = await stallProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = new TetherClient(proxy.url, { reconnect: { initialDelay: 50, maxDelay: 200 } });
    cleanups.push(() => client.close());
    const room = await client.join('ops');
    const seen: string[] = [];
    const offsets: number[] = [];
    room.on('task', (d, meta) => {
      seen.push(`task:${d}`);
      offsets.push(meta.offset);
    });
    room.on('alert', (d, meta) => {
      seen.push(`alert:${d}`);
      offsets.push(meta.offset);
    });
    const conn = server.tether.connections.get(client.connectionId!)!;
    proxy.stall();
    await congest(conn);
    for (let i = 0; i < 10; i++) await server.tether.to('ops').emit('task', i);
    await server.tether.to('ops').emit('alert', 'fire', { urgent: true });
    proxy.release();
    await until(() => seen.length === 11, 10_000, 'backlog and alert');
    expect(seen).toEqual(['alert:fire', ...Array.from({ length: 10 }, (_, i) => `task:${i}`)]);
    // The alert was not taken for the resume position: the tasks behind it were not dropped.
    expect(room.position[1]).toBe(offsets[10]);

    // A reconnect resumes after the last task: nothing is replayed twice.
    server.tether.connections.get(client.connectionId!)!.close(CloseCode.InternalError, 'test drop');
    await waitForState(client, 'reconnecting');
    await waitForState(client, 'open');
    await server.tether.to('ops').emit('task', 10);
    await until(() => seen.length === 12, 5_000, 'the task after the reconnect');
    await fence({
      inbox: seen,
      send: () => server.tether.to('ops').emit('task', 'end'),
      isMarker: (s) => s === 'task:end',
    });
    expect(seen.slice(11)).toEqual(['task:10', 'task:end']);
    expect(new Set(offsets).size).toBe(offsets.length);
  });
});
