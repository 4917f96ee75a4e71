import { TetherClient, type TetherStorage } from '@tether/client';
import { persistTo } from '@tether/client/persistence';
import { afterEach, describe, expect, it } from 'vitest';
import { startNode, type TestNode, until, waitForState } from './harness.js';

/** A localStorage stand-in: the same three synchronous methods. */
function memoryStorage(): TetherStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

let node: TestNode;
afterEach(async () => {
  await node?.close();
});

describe('offline queue across reloads (client storage)', () => {
  it('a new page with the same storage gets the room messages it missed, in order, once', async () => {
    node = await startNode({ authorizeJoin: () => true });
    const storage = memoryStorage();
    const firstPage = new TetherClient(node.url, { persistence: persistTo(storage) });
    const room = await firstPage.join('inbox');
    const seen: number[] = [];
    room.on('mail', (d) => seen.push(d as number));
    for (let i = 1; i <= 3; i++) await node.tether.to('inbox').emit('mail', i);
    await until(() => seen.length === 3, 2_000, 'first page mail');
    firstPage.close(); // the tab is closed
    expect(storage.data.size).toBe(1);

    for (let i = 4; i <= 6; i++) await node.tether.to('inbox').emit('mail', i);

    const secondPage = new TetherClient(node.url, { persistence: persistTo(storage) });
    const again = await secondPage.join('inbox');
    const missed: number[] = [];
    again.on('mail', (d) => missed.push(d as number));
    await node.tether.to('inbox').emit('mail', 7);
    await until(() => missed.length === 4, 2_000, 'missed mail and new mail');
    expect(missed).toEqual([4, 5, 6, 7]);
    expect(again.recovered).toBe(true);
    secondPage.close();
  });

  it('recovers server-joined rooms across reloads through hello', async () => {
    node = await startNode();
    node.tether.on('connection', (conn) => void conn.join('user:9'));
    const storage = memoryStorage();
    const firstPage = new TetherClient(node.url, { persistence: persistTo(storage) });
    const seen: number[] = [];
    firstPage.on('note', (d) => seen.push(d as number));
    await waitForState(firstPage, 'open');
    await until(() => node.tether.metrics().rooms === 1, 2_000, 'server join');
    await node.tether.to('user:9').emit('note', 1);
    await until(() => seen.length === 1, 2_000, 'first note');
    firstPage.close();
    await node.tether.to('user:9').emit('note', 2);

    const secondPage = new TetherClient(node.url, { persistence: persistTo(storage) });
    const later: number[] = [];
    secondPage.on('note', (d) => later.push(d as number));
    await until(() => later.length === 1, 2_000, 'missed note');
    expect(later).toEqual([2]);
    secondPage.close();
  });

  it('survives unreadable storage by starting fresh', async () => {
    node = await startNode({ authorizeJoin: () => true });
    const storage = memoryStorage();
    storage.setItem(`tether:${node.url}`, '{not json');
    const client = new TetherClient(node.url, { persistence: persistTo(storage) });
    const room = await client.join('inbox');
    const got: unknown[] = [];
    room.on('note', (d, meta) => void got.push([d, meta.offset]));
    await node.tether.to('inbox').emit('note', 'fresh');
    await until(() => got.length === 1, 2_000, 'a message in the joined room');
    expect(got).toEqual([['fresh', 1]]);
    client.close();
  });
});
