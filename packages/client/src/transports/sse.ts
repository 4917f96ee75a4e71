import { CloseCode, type Codec, type Frame, QUERY } from '@tether/protocol';
import { frameSize } from '../encoding.js';
import { type EventSourceMessage, readEventStream } from './sse-reader.js';
import {
  type ClientTransport,
  type ClientTransportEvents,
  type TransportFactory,
  toHttpUrl,
  withQuery,
} from './transport.js';

/** Options of `sseTransport`. */
export interface SseTransportOptions {
  /** The fetch to use. Default `globalThis.fetch` (browsers, Node >= 18). */
  fetch?: typeof fetch;
}

/** Time the goodbye (last POST, then DELETE) may take after `close()` before everything is cut, in ms. */
const GOODBYE_TIMEOUT_MS = 2_000;
/** Until the stream's first event says otherwise, the largest POST body to send, in bytes. */
const DEFAULT_MAX_POST = 64 * 1024;

/** What an HTTP refusal of the stream means as a close code: 401/403 are fatal, 503 says "come back later". */
function closeCodeFor(status: number): number {
  if (status === 429) return CloseCode.RateLimited;
  if (status === 401) return CloseCode.Unauthorized;
  if (status === 403) return CloseCode.Forbidden;
  if (status === 503) return CloseCode.ServerClosing;
  return CloseCode.Abnormal;
}

/** The `message` of a Tether JSON error body, or the status text. */
async function refusalReason(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // Not Tether's JSON body (a proxy's page): fall back to the status.
  }
  return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
}

/**
 * One SSE connection: a `fetch` event stream down, `POST`s up. Frames sent in the same tick go in
 * one POST, one JSON message per line; one POST is in flight at a time, so messages reach the
 * server in order even when POSTs land on different nodes. See docs/sse.md for the wire format.
 */
class SseConnection implements ClientTransport {
  readonly kind = 'sse';
  readonly #events: ClientTransportEvents;
  readonly #fetch: typeof fetch;
  readonly #baseUrl: string;
  readonly #abort = new AbortController();
  #token: string | undefined;
  #maxPost = DEFAULT_MAX_POST;
  #queue: string[] = [];
  #pumping: Promise<void> | undefined;
  #flushQueued = false;
  /** No event reaches the core any more: it closed us, or we reported the close. */
  #reported = false;
  /** Nothing more may be sent. */
  #stopped = false;

  constructor(
    request: { url: string; codec: Codec; authInHello: boolean; events: ClientTransportEvents },
    fetchImpl: typeof fetch,
  ) {
    this.#events = request.events;
    this.#fetch = fetchImpl;
    this.#baseUrl = toHttpUrl(request.url);
    if (request.codec.binary) {
      // Event streams are text; the server's SSE endpoint speaks the JSON codec only.
      queueMicrotask(() => this.#fail(CloseCode.Abnormal, 'the SSE transport carries the JSON codec only'));
      return;
    }
    // Credentials go in the hello (a POST body), never in the URL.
    const marker = request.authInHello ? '1' : undefined;
    const url = withQuery(this.#baseUrl, { [QUERY.transport]: 'sse', [QUERY.authInHello]: marker });
    void this.#readStream(url);
  }

  send(frame: Frame): void {
    if (this.#stopped || typeof frame !== 'string') return;
    this.#queue.push(frame);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#pump();
    });
  }

  close(code: number = CloseCode.Normal): void {
    const polite = !this.#reported && this.#token !== undefined && !this.#stopped;
    this.#reported = true;
    if (polite) void this.#goodbye(code);
    else this.#stop();
  }

  async #readStream(url: string): Promise<void> {
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers: { accept: 'text/event-stream' },
        // Cookies go along to another origin too; the server's CORS answer (allowedOrigins) decides.
        credentials: 'include',
        signal: this.#abort.signal,
      });
    } catch (err) {
      return this.#fail(CloseCode.Abnormal, `SSE stream failed: ${(err as Error).message}`);
    }
    if (!response.ok || !response.body) {
      const reason = await refusalReason(response);
      return this.#fail(closeCodeFor(response.status), reason, response.status);
    }
    try {
      await readEventStream(response.body, (event) => this.#onEvent(event));
      this.#fail(CloseCode.Abnormal, 'SSE stream ended');
    } catch (err) {
      this.#fail(CloseCode.Abnormal, `SSE stream broke: ${(err as Error).message}`);
    }
  }

  #onEvent(event: EventSourceMessage): void {
    if (this.#reported) return;
    switch (event.event) {
      case 'open': {
        const open = JSON.parse(event.data) as { token?: unknown; maxPost?: unknown };
        if (typeof open.token !== 'string') {
          this.#fail(CloseCode.BadMessage, 'SSE stream opened without a token');
          return;
        }
        this.#token = open.token;
        if (typeof open.maxPost === 'number' && open.maxPost > 0) this.#maxPost = open.maxPost;
        this.#events.onOpen();
        this.#pump();
        return;
      }
      case 'close': {
        // The server's close "frame": a bye message with the code and reason.
        const bye = JSON.parse(event.data) as { c?: unknown; m?: unknown };
        const code = typeof bye.c === 'number' ? bye.c : CloseCode.Abnormal;
        this.#fail(code, typeof bye.m === 'string' ? bye.m : '');
        return;
      }
      default:
        this.#events.onFrame(event.data);
    }
  }

  /** Sends queued frames, one POST at a time, until the queue is empty. */
  #pump(): void {
    if (this.#pumping || !this.#token || this.#stopped || this.#queue.length === 0) return;
    this.#pumping = (async () => {
      while (this.#queue.length > 0 && !this.#stopped) {
        const body = this.#takeBatch();
        if (!(await this.#post('POST', body))) return;
      }
    })().finally(() => {
      this.#pumping = undefined;
    });
  }

  /** Frames from the head of the queue, as many as fit in one POST (always at least one). */
  #takeBatch(): string {
    let size = 0;
    let count = 0;
    for (const frame of this.#queue) {
      const next = size + frameSize(frame) + 1;
      if (count > 0 && next > this.#maxPost) break;
      size = next;
      count++;
    }
    return this.#queue.splice(0, count).join('\n');
  }

  /** True when the stream can go on; false when it is gone (and the close was reported). */
  async #post(
    method: 'POST' | 'DELETE',
    body?: string,
    query: Record<string, string> = {},
  ): Promise<boolean> {
    const url = withQuery(this.#baseUrl, { [QUERY.transport]: 'sse', token: this.#token, ...query });
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        body,
        // text/plain keeps a cross-origin POST "simple" (no preflight); the body is one JSON message per line.
        headers: body === undefined ? undefined : { 'content-type': 'text/plain;charset=UTF-8' },
        credentials: 'include',
        signal: this.#abort.signal,
      });
    } catch (err) {
      this.#fail(CloseCode.Abnormal, `SSE POST failed: ${(err as Error).message}`);
      return false;
    }
    // Tether answers 204 (taken here) or 202 (forwarded). Another 2xx is not Tether's answer (the
    // app's own handler on a node whose Tether has closed): the frames went nowhere.
    if (response.status === 204 || response.status === 202) {
      await response.body?.cancel().catch(() => {});
      return true;
    }
    if (response.ok) {
      await response.body?.cancel().catch(() => {});
      this.#fail(CloseCode.Abnormal, `SSE POST not taken by Tether (HTTP ${response.status})`);
      return false;
    }
    const reason = await refusalReason(response);
    // A refused batch (bad or too large) is lost, like a frame the server rejected; the stream lives on.
    if (response.status === 400 || response.status === 413) return true;
    // 404/410: the stream is gone; 5xx: its node is unreachable. Either way, reconnect.
    this.#fail(CloseCode.Abnormal, `SSE POST refused: ${reason}`, response.status);
    return false;
  }

  /** After `close()`: send what is queued, tell the server (DELETE), then drop the stream; bounded in time. */
  async #goodbye(code: number): Promise<void> {
    const timer = setTimeout(() => this.#stop(), GOODBYE_TIMEOUT_MS);
    try {
      this.#pump();
      while (this.#pumping) await this.#pumping;
      if (!this.#stopped) await this.#post('DELETE', undefined, { code: String(code) });
    } finally {
      clearTimeout(timer);
      this.#stop();
    }
  }

  #stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#abort.abort();
  }

  #fail(code: number, reason: string, status?: number): void {
    const report = !this.#reported;
    this.#reported = true;
    this.#stop();
    if (report) this.#events.onClose(code, reason, status);
  }
}

/**
 * The SSE transport: works wherever `fetch` streams a response body (every current browser,
 * Node >= 18), through proxies that refuse WebSocket upgrades.
 *
 * @example
 * const env = { transports: { websocket: webSocketTransport(WebSocket), sse: sseTransport() } };
 */
export function sseTransport(options: SseTransportOptions = {}): TransportFactory {
  return (request) => {
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    return new SseConnection(request, fetchImpl);
  };
}
