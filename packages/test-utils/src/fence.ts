import { type WaitForOptions, waitFor } from './wait.js';

/**
 * What {@link fence} needs: where the receiver records what it gets, how to send the marker down
 * the same ordered path as the messages under test, and how to tell the marker apart.
 *
 * @example
 * ```ts
 * const options: FenceOptions<string> = {
 *   inbox: got,
 *   send: () => tether.to('room').emit('note', 'fence'),
 *   isMarker: (item) => item === 'fence',
 * };
 * ```
 */
export interface FenceOptions<T> {
  /** What the receiver has recorded so far; the fence watches what is appended after the call. */
  inbox: readonly T[];
  /** Sends the marker, after the messages under test and down the same ordered path. */
  send(): unknown;
  /** True for the marker (and only for it). */
  isMarker(item: T): boolean;
  /** How long to wait for the marker. Default 5000 ms. */
  timeout?: WaitForOptions['timeout'];
  /** Names the fence in its errors. */
  label?: string;
}

/**
 * Thrown by {@link fence} when the marker never arrives or something arrived before it.
 *
 * @example
 * ```ts
 * await expect(fence(options)).rejects.toBeInstanceOf(FenceError);
 * ```
 */
export class FenceError extends Error {
  /** `'MARKER_LOST'`: the marker never came; `'UNEXPECTED'`: something else came before it. */
  readonly code: 'MARKER_LOST' | 'UNEXPECTED';
  /** What arrived after the call and before the marker (the marker excluded). */
  readonly unexpected: readonly unknown[];

  constructor(code: FenceError['code'], message: string, unexpected: readonly unknown[] = []) {
    super(message);
    this.name = 'FenceError';
    this.code = code;
    this.unexpected = unexpected;
  }
}

/**
 * Proves that nothing more arrives: sends a marker down the same ordered path as the messages under
 * test, waits for it, then checks that nothing else was appended to `inbox` since the call. Because
 * the path keeps order, anything still on its way when the fence was sent would have come first.
 * This replaces "wait N ms and check that nothing came", which passes on a slow machine by luck
 * and always costs N ms.
 *
 * Resolves with the marker itself. Items appended after the marker are not looked at.
 *
 * @throws {@link FenceError} `MARKER_LOST` after `timeout`, or `UNEXPECTED` when other items came first.
 * @example
 * ```ts
 * const got: unknown[] = [];
 * outsider.on('note', (data) => got.push(data));
 * await tether.to('secret').emit('note', 'private');          // must not reach the outsider
 * await fence({ inbox: got, send: () => tether.to('lobby').emit('note', 'end'), isMarker: (d) => d === 'end' });
 * ```
 */
export async function fence<T>(options: FenceOptions<T>): Promise<T> {
  const { inbox, isMarker, timeout = 5000, label = 'fence' } = options;
  const start = inbox.length;
  await options.send();
  const markerAt = () => inbox.findIndex((item, i) => i >= start && isMarker(item));
  try {
    await waitFor(() => markerAt() >= 0, { timeout });
  } catch {
    const seen = inbox.slice(start);
    throw new FenceError(
      'MARKER_LOST',
      `${label}: the marker did not arrive within ${timeout} ms (arrived meanwhile: ${show(seen)})`,
      seen,
    );
  }
  const at = markerAt();
  const before = inbox.slice(start, at);
  if (before.length > 0) {
    throw new FenceError(
      'UNEXPECTED',
      `${label}: ${before.length} item(s) arrived before the marker: ${show(before)}`,
      before,
    );
  }
  return inbox[at] as T;
}

function show(items: readonly unknown[]): string {
  try {
    return JSON.stringify(items);
  } catch {
    return `${items.length} item(s)`;
  }
}
