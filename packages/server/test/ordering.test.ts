import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../src/index.js';
import { startNode, type TestNode, until, waitForState } from './harness.js';

let node: TestNode;
afterEach(async () => {
  await node?.close();
});

describe('per-connection ordering', () => {
  it('handles a request sent right after a (re)join only once the join is done, even with a slow authorizeJoin', async () => {
    // The rejoin's authorization is held until the request sent behind it has reached the server,
    // so the request is always there while the join is still pending.
    let holdJoin: (() => Promise<void>) | undefined;
    node = await startNode({
      authorizeJoin: async () => {
        await holdJoin?.();
        return true;
      },
    });
    node.tether.on('connection', (conn) => conn.on('member?', (room) => conn.rooms.has(room as string)));
    const client = node.client();
    await client.join('r');
    await expect(client.request('member?', 'r')).resolves.toBe(true);
    holdJoin = async () => {
      const received = node.tether.metrics().messages.in; // the join frame is counted already
      await until(() => node.tether.metrics().messages.in > received, 3_000, 'the request behind the join');
    };
    [...node.tether.connections.values()][0]!.close(CloseCode.InternalError, 'test drop');
    await waitForState(client, 'reconnecting');
    // Sent while offline: on reconnect it follows the rejoin on the wire, and must see its effect.
    const answer = client.request('member?', 'r');
    await waitForState(client, 'open');
    await expect(answer).resolves.toBe(true);
  });

  it('keeps emits in order around joins', async () => {
    node = await startNode({ authorizeJoin: async () => true });
    const seen: string[] = [];
    node.tether.on('connection', (conn) =>
      conn.on('step', (d) => void seen.push(`${d}:${conn.rooms.has('x')}`)),
    );
    const client = node.client();
    await waitForState(client, 'open');
    client.emit('step', 'before');
    const joined = client.join('x');
    client.emit('step', 'after');
    await joined;
    await until(() => seen.length === 2, 2_000, 'both emits');
    expect(seen).toEqual(['before:false', 'after:true']);
  });
});
