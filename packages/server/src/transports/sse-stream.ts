import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGzip, type Gzip, constants as zlib } from 'node:zlib';

/** Headers of every Tether event stream. `no-transform` and `X-Accel-Buffering` keep proxies from buffering it. */
const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/**
 * zlib settings for streams: a 4 KiB window and a small hash table cost about 24 KiB per stream
 * instead of the default 256 KiB, and still catch what repeats from one event to the next
 * (field names, room and event names), which is where SSE traffic compresses.
 */
const GZIP_OPTIONS = { level: 6, windowBits: 12, memLevel: 5 };

/** Time an ended stream gets to drain to its reader before the socket is destroyed, in ms. */
const END_GRACE_MS = 3_000;

/** True when the request lists gzip in `Accept-Encoding` (and does not refuse it with `q=0`). */
export function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * One open `text/event-stream` response: writes raw SSE text, gzip-compressed when asked. Every
 * write of a tick leaves in one chunk (and, compressed, one flush), so a burst of events costs one
 * syscall and one gzip sync marker, while a single event still reaches the client at once.
 *
 * @example
 * const stream = new SseStream(res, { gzip: acceptsGzip(req) });
 * stream.open();
 * stream.write('data: {"t":"ping"}\n\n');
 * stream.onClose = () => cleanUp();
 */
export class SseStream {
  /** Called once when the response is finished or the connection is gone. */
  onClose: (() => void) | undefined;
  /** The drain `requestDrain()` asked for. */
  onDrain: (() => void) | undefined;
  readonly #res: ServerResponse;
  readonly #gzip: Gzip | undefined;
  #flushQueued = false;
  #closed = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #drainRequested = false;

  constructor(res: ServerResponse, options: { gzip: boolean }) {
    this.#res = res;
    this.#gzip = options.gzip ? createGzip(GZIP_OPTIONS) : undefined;
    res.on('close', () => this.#finish());
    // A write after the peer vanished errors; 'close' follows and carries the news.
    res.on('error', () => {});
    this.#gzip?.on('error', () => res.destroy());
    // One listener each, answering requestDrain(); nothing is added per write.
    res.on('drain', this.#drained);
    this.#gzip?.on('drain', this.#drained);
    // Gone already (its 'close' has passed): report it once the owner had a chance to listen.
    if (res.destroyed || res.socket?.destroyed !== false) queueMicrotask(() => this.#finish());
  }

  get compressed(): boolean {
    return this.#gzip !== undefined;
  }

  /** True once the response ended or the connection closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes written but not yet handed to the kernel (compressor included): the backpressure signal. */
  get bufferedAmount(): number {
    const gzip = this.#gzip;
    const pending = gzip ? gzip.writableLength + gzip.readableLength : 0;
    return this.#res.writableLength + pending;
  }

  /**
   * Asks for one `onDrain()` once the backlog went down. Repeated requests before it are one.
   * When nothing is backed up past a high-water mark no 'drain' will come: look again after
   * this turn's I/O instead.
   */
  requestDrain(): void {
    if (this.#drainRequested || this.#closed) return;
    this.#drainRequested = true;
    if (!this.#res.writableNeedDrain && !this.#gzip?.writableNeedDrain) setImmediate(this.#drained);
  }

  /** Sends the status line and headers. */
  open(): void {
    const headers: Record<string, string> = { ...STREAM_HEADERS };
    if (this.#gzip) {
      headers['content-encoding'] = 'gzip';
      headers.vary = 'accept-encoding';
    }
    this.#res.writeHead(200, headers);
    // Headers leave now, so the client's fetch resolves before the first event.
    this.#res.flushHeaders();
    this.#res.socket?.setNoDelay(true);
    if (this.#gzip) this.#gzip.pipe(this.#res);
  }

  /** Queues raw SSE text (one or more complete events). */
  write(chunk: string | Buffer): void {
    if (this.#closed || this.#res.writableEnded) return;
    const target = this.#gzip ?? this.#res;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      if (!this.#gzip) this.#res.cork();
      process.nextTick(this.#flush);
    }
    target.write(chunk);
  }

  /**
   * Ends the response after what was written. A reader that stopped reading would keep the
   * socket forever, so it is destroyed if the end has not drained within a grace period.
   */
  end(): void {
    if (this.#closed || this.#graceTimer) return;
    if (this.#gzip) this.#gzip.end();
    else this.#res.end();
    this.#graceTimer = setTimeout(() => this.destroy(), END_GRACE_MS);
    this.#graceTimer.unref();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#gzip?.destroy();
    this.#res.destroy();
  }

  readonly #drained = (): void => {
    if (!this.#drainRequested) return;
    this.#drainRequested = false;
    if (!this.#closed) this.onDrain?.();
  };

  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#gzip) {
      if (!this.#gzip.writableEnded && !this.#gzip.destroyed) this.#gzip.flush(zlib.Z_SYNC_FLUSH);
    } else if (this.#res.writableCorked > 0) {
      this.#res.uncork();
    }
  };

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#graceTimer);
    this.#gzip?.destroy();
    this.onClose?.();
  }
}

/** Whether a name can go into an `event:` field as it is (no line breaks, which would end the field). */
export function isSafeEventName(name: string): boolean {
  return !/[\r\n]/.test(name);
}
