import type { Logger } from '@tether/protocol';
import type { Bus } from '../bus.js';

/** Outcome of handing a POST's frames to the stream its token names. */
export type Handover = 'ok' | 'unknown' | 'gone' | 'timeout' | 'unavailable' | 'closing';

/** What a POST or DELETE carries to the node holding the stream. */
export interface StreamPost {
  stream: number;
  secret: string;
  /** Checked frames, in order. */
  frames: string[];
  /** Set for a DELETE: the close code the client names. */
  close: number | undefined;
}

/** Time a forwarded POST waits for the holding node's answer, in ms. */
const FORWARD_TIMEOUT_MS = 3_000;
const NODE_POST = 'sse:post';
const NODE_ACK = 'sse:ack';
const OUTCOMES: ReadonlySet<string> = new Set<Handover>([
  'ok',
  'unknown',
  'gone',
  'timeout',
  'unavailable',
  'closing',
]);

/** What the forwarder needs from the server. */
export interface ForwardHost {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly logger: Logger;
  registerNodeMessage(kind: string, handler: (payload: Record<string, unknown>) => void): void;
}

/**
 * Carries POSTs that landed on the wrong node to the node holding their stream, over the bus:
 * `{ kind: 'sse:post', from, ack, stream, secret, frames, close }` there, and the holder's
 * verdict `{ kind: 'sse:ack', ack, outcome }` back. The receiving node answers the HTTP request
 * only with that verdict, so the client learns of a dead token, and POSTs stay in order.
 *
 * @example
 * const forwarder = new PostForwarder(tether, (post) => endpoint.handOver(post));
 * const outcome = await forwarder.forward(token.nodeId, { stream, secret, frames, close: undefined });
 */
export class PostForwarder {
  readonly #host: ForwardHost;
  readonly #waiting = new Map<string, (outcome: Handover) => void>();
  #counter = 0;
  #closed = false;

  constructor(host: ForwardHost, handOver: (post: StreamPost) => Handover) {
    this.#host = host;
    host.registerNodeMessage(NODE_POST, (payload) => this.#onPost(payload, handOver));
    host.registerNodeMessage(NODE_ACK, (payload) => {
      const { ack, outcome } = payload;
      if (typeof ack === 'string' && typeof outcome === 'string' && OUTCOMES.has(outcome)) {
        this.#waiting.get(ack)?.(outcome as Handover);
      }
    });
  }

  /** Sends a post to `nodeId` and resolves with its verdict, `timeout`, or `unavailable` when the bus failed. */
  forward(nodeId: string, post: StreamPost): Promise<Handover> {
    if (this.#closed) return Promise.resolve('closing');
    const ack = `${this.#host.nodeId}.${(++this.#counter).toString(36)}`;
    return new Promise((resolve) => {
      const settle = (outcome: Handover) => {
        if (!this.#waiting.delete(ack)) return;
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(() => settle('timeout'), FORWARD_TIMEOUT_MS);
      this.#waiting.set(ack, settle);
      const payload = { kind: NODE_POST, from: this.#host.nodeId, ack, ...post };
      this.#host.bus.sendToNode(nodeId, payload).catch((err) => {
        this.#host.logger.debug({ err }, 'SSE POST not forwarded');
        settle('unavailable');
      });
    });
  }

  /** Answers every waiting forward with `closing`; later ones resolve at once the same way. */
  close(): void {
    this.#closed = true;
    for (const settle of [...this.#waiting.values()]) settle('closing');
  }

  #onPost(payload: Record<string, unknown>, handOver: (post: StreamPost) => Handover): void {
    const { from, ack, stream, secret, frames, close } = payload;
    if (typeof from !== 'string' || typeof ack !== 'string') return;
    // The sending node checked the frames; the shape is checked again since the bus is a boundary.
    const valid =
      typeof stream === 'number' &&
      typeof secret === 'string' &&
      Array.isArray(frames) &&
      frames.every((f) => typeof f === 'string');
    const outcome = valid
      ? handOver({
          stream,
          secret,
          frames: frames as string[],
          close: typeof close === 'number' ? close : undefined,
        })
      : 'unknown';
    this.#host.bus
      .sendToNode(from, { kind: NODE_ACK, ack, outcome })
      .catch((err) => this.#host.logger.debug({ err }, 'SSE POST verdict not sent'));
  }
}
