import { CloseCode, type Frame, jsonCodec, type Message, type Position } from '@tether/protocol';
import { isSafeEventName, type SseStream } from './sse-stream.js';
import type { ServerTransport, TransportEvents } from './transport.js';

/** Reserved SSE event names the plain EventSource stream sends besides the app's events. */
export const NativeEvent = {
  /** Every named room is joined (and recovered); data `{ "rooms": [...] }`. */
  ready: 'tether:ready',
  /** History no longer reached back to the position in `Last-Event-ID`; data `{ "room": "..." }`. */
  recoveryFailed: 'tether:recovery-failed',
  /** The server closes the stream; data `{ "code": 4503, "reason": "..." }`. The browser reconnects by itself. */
  close: 'tether:close',
} as const;

/** Room -> [epoch, offset]: the last position the reader has, per room. */
export type Positions = Map<string, Position>;

/** The ping the heartbeat sweep sends through the JSON codec. */
const PING_FRAME = jsonCodec.encode({ t: 'ping' });

/** Longest `Last-Event-ID` considered; a real one is far smaller. */
const MAX_EVENT_ID_LENGTH = 16 * 1024;

/**
 * The event id of the plain EventSource stream: base64url of the JSON `[[room, epoch, offset], ...]`,
 * every room of the stream in one id, so the browser's `Last-Event-ID` resumes them all.
 *
 * @example
 * encodePositions(new Map([['a', ['Xy', 3]]])); // 'W1siYSIsIlh5IiwzXV0'
 */
export function encodePositions(positions: Positions): string {
  const list: Array<[string, string, number]> = [];
  for (const [room, [epoch, offset]] of positions) list.push([room, epoch, offset]);
  return Buffer.from(JSON.stringify(list)).toString('base64url');
}

/** Reads a `Last-Event-ID` back, keeping only the rooms asked for. Anything malformed counts as no position. */
export function decodePositions(id: string | undefined, rooms: readonly string[]): Positions {
  const positions: Positions = new Map();
  if (!id || id.length > MAX_EVENT_ID_LENGTH) return positions;
  let list: unknown;
  try {
    list = JSON.parse(Buffer.from(id, 'base64url').toString('utf8'));
  } catch {
    return positions;
  }
  if (!Array.isArray(list)) return positions;
  for (const entry of list) {
    if (!Array.isArray(entry) || entry.length !== 3) continue;
    const [room, epoch, offset] = entry as unknown[];
    if (
      typeof room !== 'string' ||
      typeof epoch !== 'string' ||
      !Number.isSafeInteger(offset) ||
      (offset as number) < 0
    )
      continue;
    if (rooms.includes(room)) positions.set(room, [epoch, offset as number]);
  }
  return positions;
}

interface RenderedMessage {
  room: string;
  /** `event: ...\ndata: ...\n\n`, shared by every stream that gets the same frame. */
  body: string | undefined;
  /** Absent when unchanged since the stream's last position for the room. */
  epoch: string | undefined;
  offset: number;
  volatile: boolean;
}

// A broadcast hands the same Buffer to every member: parse and render it once for all of them.
const rendered = new WeakMap<object, RenderedMessage | null>();

function renderBody(event: string, data: unknown): string | undefined {
  if (!isSafeEventName(event)) return undefined;
  return `event: ${event}\ndata: ${JSON.stringify(data) ?? 'null'}\n\n`;
}

function decode(frame: Frame): Message | undefined {
  try {
    return jsonCodec.decode(frame);
  } catch {
    return undefined;
  }
}

function renderRoomMessage(frame: Frame): RenderedMessage | null {
  const cached = typeof frame === 'string' ? undefined : rendered.get(frame);
  if (cached !== undefined) return cached;
  const message = decode(frame);
  const result =
    message?.t === 'msg'
      ? {
          room: message.r,
          body: renderBody(message.e, message.d),
          epoch: message.ep,
          offset: message.off,
          volatile: message.v === 1,
        }
      : null;
  if (typeof frame !== 'string') rendered.set(frame, result);
  return result;
}

/**
 * The transport behind `GET {path}/events` (plain `EventSource`): one-way, and it speaks SSE
 * the browser way instead of the Tether protocol. A room message becomes an event named after
 * the Tether event with the JSON of its data, and an id holding every room's position; a direct
 * `conn.emit` becomes a named event without id; pings become comments. Nothing else is written.
 *
 * Headers are held back until `start()`, so the endpoint can still refuse with a status (403 for
 * a refused room) after the connection exists.
 *
 * @example
 * const transport = new NativeSseTransport(stream, positionsFromLastEventId);
 * // ... authorize rooms, then:
 * transport.start();
 */
export class NativeSseTransport implements ServerTransport {
  readonly kind = 'sse';
  events: TransportEvents | undefined;
  /** Called once when the stream is gone, after `events.onClose`. */
  onGone: (() => void) | undefined;
  readonly #stream: SseStream;
  readonly #positions: Positions;
  /** Liveness check of a one-way reader: answer pings for it while it keeps draining. */
  readonly #maxBufferedBytes: number;
  #started = false;
  #closing: { code: number; reason: string } | undefined;
  #gone = false;
  #id: string | undefined;

  constructor(stream: SseStream, positions: Positions, maxBufferedBytes: number) {
    this.#stream = stream;
    this.#positions = positions;
    this.#maxBufferedBytes = maxBufferedBytes;
    stream.onClose = () => this.#onStreamClosed();
    stream.onDrain = () => this.events?.onDrain?.();
  }

  get bufferedAmount(): number {
    return this.#stream.bufferedAmount;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Lets a congested connection queue frames until the stream drained (see `ServerTransport`). */
  requestDrain(): void {
    if (this.#writable) this.#stream.requestDrain();
  }

  /** Sends the headers; events flow from now on. */
  start(): void {
    if (this.#started || this.#closing || this.#gone) return;
    this.#started = true;
    this.#stream.open();
  }

  /** Records a room's position without an event (a join that starts from now). */
  setPosition(room: string, epoch: string, offset: number): void {
    this.#positions.set(room, [epoch, offset]);
    this.#id = undefined;
  }

  /** Writes a reserved `tether:*` event; `withId` stamps the current positions on it. */
  writeControl(event: string, data: unknown, withId = false): void {
    if (!this.#writable) return;
    const id = withId ? `id: ${this.#currentId()}\n` : '';
    this.#stream.write(`${id}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  send(frame: Frame): void {
    // The heartbeat's ping is answered even before the stream starts (authorizeJoin may be slow).
    if (frame === PING_FRAME) {
      this.#answerPing();
      return;
    }
    if (!this.#writable) return;
    const room = renderRoomMessage(frame);
    if (room) {
      if (!room.body) return;
      if (room.volatile) {
        this.#stream.write(room.body);
        return;
      }
      const epoch = room.epoch ?? this.#positions.get(room.room)?.[0] ?? '';
      this.#positions.set(room.room, [epoch, room.offset]);
      this.#id = undefined;
      this.#stream.write(`id: ${this.#currentId()}\n${room.body}`);
      return;
    }
    const message = decode(frame);
    switch (message?.t) {
      case 'evt': {
        const body = renderBody(message.e, message.d);
        if (body) this.#stream.write(body);
        return;
      }
      case 'ping':
        this.#answerPing();
        return;
      case 'gap':
        // Messages of the room were lost while the stream stayed open (docs/protocol.md, "Gaps").
        this.#stream.write(
          `event: ${NativeEvent.recoveryFailed}\ndata: ${JSON.stringify({ room: message.r })}\n\n`,
        );
        return;
      case 'bye':
        // Spread the browsers' automatic reconnects over the server's hint.
        if (message.rt !== undefined)
          this.#stream.write(`retry: ${Math.round(Math.random() * message.rt)}\n\n`);
        return;
      default:
        // welcome, joined, left, replies, server requests: nothing an EventSource can use.
        return;
    }
  }

  /**
   * An EventSource never answers pings: while the reader keeps draining what we write (and
   * while the endpoint is still authorizing, before anything is written), it counts as alive.
   */
  #answerPing(): void {
    if (this.#closing || this.#gone) return;
    if (this.#started) this.#stream.write(': ping\n\n');
    if (this.#stream.bufferedAmount <= this.#maxBufferedBytes) this.events?.onFrame('{"t":"pong"}');
  }

  close(code: number, reason: string): void {
    if (this.#closing || this.#gone) return;
    this.#closing = { code, reason };
    if (!this.#started) {
      // Nothing was sent yet: the endpoint answers the request with a status; the connection is over now.
      this.#onStreamClosed();
      return;
    }
    this.#stream.write(`event: ${NativeEvent.close}\ndata: ${JSON.stringify({ code, reason })}\n\n`);
    this.#stream.end();
  }

  terminate(): void {
    if (!this.#started) this.close(CloseCode.Abnormal, 'terminated');
    else this.#stream.destroy();
  }

  get #writable(): boolean {
    return this.#started && !this.#closing && !this.#gone;
  }

  #currentId(): string {
    this.#id ??= encodePositions(this.#positions);
    return this.#id;
  }

  #onStreamClosed(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.events?.onClose(
      this.#closing?.code ?? CloseCode.Abnormal,
      this.#closing?.reason ?? 'connection lost',
    );
    this.onGone?.();
  }
}
