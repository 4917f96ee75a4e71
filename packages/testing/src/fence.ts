import { type Listenable, WaitTimeoutError } from './wait-for.js';

/**
 * Where a fence marker is sent from, on the server: `tether.to(room)` (a room broadcast),
 * `conn` (one connection), or `conn.to(room)`.
 *
 * @example
 * ```ts
 * const sender: FenceSender = pair.tether.to('chat:1');
 * ```
 */
export interface FenceSender {
  emit(event: string, data?: unknown): unknown;
}

/**
 * Options of {@link fence}.
 *
 * @example
 * ```ts
 * await fence(pair.tether.to('chat:1'), room, { timeout: 2000, event: 'my-fence' });
 * ```
 */
export interface FenceOptions {
  /** Milliseconds the marker gets to arrive. Default 5 000. */
  timeout?: number;
  /** Event name of the marker. Default `'testing:fence'`; change it if your app uses that name. */
  event?: string;
}

/** Event name of fence markers unless {@link FenceOptions.event} says otherwise. */
export const FENCE_EVENT = 'testing:fence';

let fenceCount = 0;

/**
 * Sends a marker from the server through `sender` and waits until `receiver` (a client, or a
 * client's room handle) gets it. Tether delivers a room's messages, and a connection's, in
 * order, so once the marker is in, everything sent the same way before it is in too: assert
 * on what arrived then, with no sleep, and a message that should not have arrived would have.
 *
 * The marker is an ordinary event (`'testing:fence'` with `{ fence: id }`): it takes a place in
 * the room's history, and listeners of that event name see it.
 *
 * @throws {@link WaitTimeoutError} when the marker does not arrive within `timeout`.
 * @example
 * ```ts
 * const got: string[] = [];
 * room.on('message', (m) => got.push(m.text));
 * await pair.tether.to('chat:1').emit('message', { text: 'hi' });
 * await fence(pair.tether.to('chat:1'), room);
 * expect(got).toEqual(['hi']); // nothing more, nothing less
 * ```
 */
export async function fence(
  sender: FenceSender,
  receiver: Listenable,
  options: FenceOptions = {},
): Promise<void> {
  const { timeout = 5_000, event = FENCE_EVENT } = options;
  const id = `${process.pid}-${++fenceCount}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let listener: ((data: unknown) => void) | undefined;
  const arrived = new Promise<void>((resolve, reject) => {
    listener = (data: unknown) => {
      if (isMarker(data, id)) resolve();
    };
    receiver.on(event, listener);
    timer = setTimeout(
      () =>
        reject(
          new WaitTimeoutError(
            `fence marker ${id} ("${event}")`,
            timeout,
            'was it sent to a room the receiver is in?',
          ),
        ),
      timeout,
    );
  });
  // Marked as handled now: a slow send may still be awaited when the timer rejects.
  arrived.catch(() => {});
  try {
    // The receiver listens before the marker leaves, so even an instant delivery is seen.
    const sent = await sender.emit(event, { fence: id });
    // `conn.emit` answers false when the message was dropped: waiting would only end in a timeout.
    if (sent === false)
      throw new Error(`fence: marker ${id} was not sent (connection closed or message dropped)`);
    await arrived;
  } finally {
    clearTimeout(timer);
    if (listener) receiver.off(event, listener);
  }
}

function isMarker(data: unknown, id: string): boolean {
  return typeof data === 'object' && data !== null && (data as { fence?: unknown }).fence === id;
}
