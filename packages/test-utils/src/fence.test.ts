import { describe, expect, it } from 'vitest';
import { FenceError, fence } from './fence.js';

/** A receiver fed in order, a tick apart, like messages from a socket. */
function channel() {
  const inbox: string[] = [];
  const queue: string[] = [];
  let pumping = false;
  const pump = () => {
    const next = queue.shift();
    if (next === undefined) {
      pumping = false;
      return;
    }
    inbox.push(next);
    setImmediate(pump);
  };
  const send = (item: string) => {
    queue.push(item);
    if (!pumping) {
      pumping = true;
      setImmediate(pump);
    }
  };
  return { inbox, send };
}

describe('fence', () => {
  it('resolves with the marker when nothing else arrived after the call', async () => {
    const { inbox, send } = channel();
    send('before');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(inbox).toEqual(['before']);
    const marker = await fence({ inbox, send: () => send('end'), isMarker: (m) => m === 'end' });
    expect(marker).toBe('end');
    expect(inbox).toEqual(['before', 'end']);
  });

  it('fails with what arrived between the call and the marker', async () => {
    const { inbox, send } = channel();
    send('late-1'); // still on its way when the fence is sent: it must be caught
    send('late-2');
    const failure = fence({
      inbox,
      send: () => send('end'),
      isMarker: (m) => m === 'end',
      label: 'outsider',
    });
    await expect(failure).rejects.toBeInstanceOf(FenceError);
    await expect(failure).rejects.toMatchObject({ code: 'UNEXPECTED', unexpected: ['late-1', 'late-2'] });
    await expect(failure).rejects.toThrow(/^outsider: 2 item\(s\) arrived before the marker/);
  });

  it('fails when the marker never arrives, naming what did', async () => {
    const { inbox, send } = channel();
    const failure = fence({ inbox, send: () => send('other'), isMarker: (m) => m === 'end', timeout: 50 });
    await expect(failure).rejects.toMatchObject({ code: 'MARKER_LOST', unexpected: ['other'] });
    await expect(failure).rejects.toThrow(/did not arrive within 50 ms/);
  });

  it('ignores a marker that was already in the inbox before the call', async () => {
    const inbox = ['end'];
    const failure = fence({ inbox, send: () => {}, isMarker: (m) => m === 'end', timeout: 30 });
    await expect(failure).rejects.toMatchObject({ code: 'MARKER_LOST' });
  });

  it('awaits an async send before watching', async () => {
    const { inbox, send } = channel();
    const marker = await fence({
      inbox,
      send: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        send('end');
      },
      isMarker: (m) => m === 'end',
    });
    expect(marker).toBe('end');
  });
});
