import { createTestPair, FENCE_EVENT, fence, type TestPair, WaitTimeoutError } from '@tether/testing';
import { afterEach, describe, expect, it } from 'vitest';

let pair: TestPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe('fence', () => {
  it('proves a room message that was excluded never arrived, without a sleep', async () => {
    pair = await createTestPair({ server: { authorizeJoin: () => true } });
    const other = pair.newClient();
    const [mine, theirs] = await Promise.all([pair.client.join('chat:1'), other.join('chat:1')]);
    const got: string[] = [];
    mine.on('typing', (who) => got.push(who as string));
    const otherConn = pair.connectionOf(other);

    // The sender is excluded from its own typing broadcast: a fence makes that checkable.
    await otherConn.to('chat:1').emit('typing', 'other');
    await pair.tether
      .to('chat:1')
      .except(pair.client.connectionId ?? '')
      .emit('typing', 'nobody');
    await pair.tether.to('chat:1').emit('typing', 'everyone');
    await fence(pair.tether.to('chat:1'), mine);
    expect(got).toEqual(['other', 'everyone']);
    await fence(pair.tether.to('chat:1'), theirs);
  });

  it('works through one connection, and reaches client.on for rooms joined server-side', async () => {
    pair = await createTestPair({
      setup: (tether) => tether.on('connection', (conn) => void conn.join('user:1')),
    });
    const conn = pair.connectionOf(pair.client);
    const got: string[] = [];
    pair.client.on('note', (text) => got.push(text as string));
    conn.emit('note', 'direct');
    await pair.tether.to('user:1').emit('note', 'room');
    await fence(conn, pair.client);
    await fence(pair.tether.to('user:1'), pair.client);
    expect(got).toEqual(['direct', 'room']);
  });

  it('stops listening once through, and fails clearly when the receiver is not in the room', async () => {
    pair = await createTestPair({ server: { authorizeJoin: () => true } });
    const room = await pair.client.join('a');
    const markers: unknown[] = [];
    pair.client.on(FENCE_EVENT, (data) => markers.push(data));
    await fence(pair.tether.to('a'), room);
    expect(markers).toHaveLength(1); // an ordinary event: the app sees it if it listens for that name

    const error = await fence(pair.tether.to('b'), pair.client, { timeout: 100 }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toMatch(/fence marker .* \("testing:fence"\)/);
  });

  it('fails at once when the connection cannot send the marker', async () => {
    pair = await createTestPair();
    const conn = pair.connectionOf(pair.client);
    pair.client.close();
    await new Promise<void>((resolve) => conn.on('close', () => resolve()));
    await expect(fence(conn, pair.client)).rejects.toThrow(/was not sent/);
  });
});
