import { type Codec, ErrorCode, type Frame, TetherError } from '@tether/protocol';
import type { Emitter } from './emitter.js';

/** Request ids remembered with their replies; the oldest go first. */
const MEMORY = 1_000;

/**
 * Answers the server's requests (`conn.request` on the server) with the first listener of the
 * event, once per id: the server retries with the same id, and a retry of a request already
 * answered (or being answered) gets the stored reply again, never a second run.
 *
 * @example
 * const answers = new RequestAnswers(codec, events, send);
 * void answers.answer(message.id, message.e, message.d);
 */
export class RequestAnswers {
  /** Reply per id; null while the handler runs. */
  readonly #answered = new Map<string, Frame | null>();
  readonly #codec: Codec;
  /** The first listener of an event answers it. */
  readonly #listeners: Emitter<Record<string, unknown[]>>;
  readonly #send: (frame: Frame) => void;

  constructor(codec: Codec, listeners: Emitter<Record<string, unknown[]>>, send: (frame: Frame) => void) {
    this.#codec = codec;
    this.#listeners = listeners;
    this.#send = send;
  }

  async answer(id: string, event: string, data: unknown): Promise<void> {
    if (this.#answered.has(id)) {
      const reply = this.#answered.get(id);
      if (reply) this.#send(reply);
      return;
    }
    this.#answered.set(id, null);
    if (this.#answered.size > MEMORY) this.#answered.delete(this.#answered.keys().next().value as string);
    const handler = this.#listeners.first(event);
    let reply: Frame;
    if (!handler) {
      reply = this.#codec.encode({ t: 'err', id, c: ErrorCode.NoHandler, m: `no handler for "${event}"` });
    } else {
      try {
        reply = this.#codec.encode({ t: 'res', id, d: await handler(data) });
      } catch (err) {
        const code = err instanceof TetherError ? err.code : ErrorCode.HandlerError;
        reply = this.#codec.encode({
          t: 'err',
          id,
          c: code,
          m: err instanceof Error ? err.message : String(err),
        });
      }
    }
    if (this.#answered.has(id)) this.#answered.set(id, reply);
    this.#send(reply);
  }
}
