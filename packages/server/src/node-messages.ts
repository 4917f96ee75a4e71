import type { Logger } from '@tether/protocol';

/** A handler of one kind of node-to-node message. */
export type NodeMessageHandler = (payload: Record<string, unknown>) => void;

/**
 * Node-to-node messages (the bus's `sendToNode`) by kind: each part that talks to other nodes
 * (request replies, forwarded SSE posts) registers its kind here, and the bus's one
 * `onNodeMessage` hands each payload to its kind's handler.
 *
 * @example
 * nodeMessages.register('reply', (payload) => settle(payload.message));
 * link = bus.attach({ ..., onNodeMessage: (payload) => nodeMessages.dispatch(payload) });
 */
export class NodeMessages {
  readonly #handlers = new Map<string, NodeMessageHandler>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  register(kind: string, handler: NodeMessageHandler): void {
    this.#handlers.set(kind, handler);
  }

  dispatch(payload: unknown): void {
    if (typeof payload !== 'object' || payload === null) return;
    const kind = (payload as { kind?: unknown }).kind;
    const handler = typeof kind === 'string' ? this.#handlers.get(kind) : undefined;
    if (!handler) return;
    try {
      handler(payload as Record<string, unknown>);
    } catch (err) {
      this.#logger.error({ err, kind }, 'node message handler threw');
    }
  }
}
