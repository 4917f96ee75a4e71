import {
  CloseCode,
  ErrorCode,
  type EventMessage,
  isReservedEvent,
  type Logger,
  type Message,
  ProtocolError,
  type RequestMessage,
  TetherError,
} from '@tether/protocol';
import { type Connection, handleOf } from './connection.js';
import type { ConnectionEngine } from './connection-engine.js';
import { dispatchEvent } from './inbound.js';
import type { Metrics } from './metrics.js';
import { errorReply } from './server-messages.js';
import type { EventMap } from './typed-events.js';

/**
 * An inbound hook (`tether.use`): sees every client event and request before its handler runs.
 * Return (or resolve) to let it through; throw (or reject) to refuse it: a `TetherError` keeps
 * its code and message, anything else is logged and refused as `HANDLER_ERROR` without its
 * message. Hooks run in the order they were added; the first refusal stops the rest.
 *
 * @example
 * tether.use((conn, event, data) => {
 *   if (event.startsWith('admin:') && !conn.data.admin) throw new TetherError('FORBIDDEN', 'admins only');
 * });
 */
export type InboundHook<E extends EventMap = EventMap, Data = unknown> = (
  conn: Connection<E, Data>,
  event: string,
  data: unknown,
) => void | Promise<void>;

/** What the inbound part needs from the server. */
export interface InboundContext {
  readonly logger: Logger;
  readonly counters: Metrics;
  /** The hooks, in order; the server's `use` appends to this array. */
  readonly hooks: readonly InboundHook[];
  request(engine: ConnectionEngine, message: RequestMessage): void;
  /** A client's `auth` (credentials refresh). */
  refresh(engine: ConnectionEngine, message: Extract<Message, { t: 'auth' }>): Promise<void>;
}

/**
 * Client events, requests and credential refreshes, on their way from the engine to their
 * handlers: the inbound hooks first (after the rate limit, before any handler), then event
 * dispatch or the requests part. What it returns tells the engine what to do: a promise holds
 * the connection's later frames until it settles (so an async hook or a refresh keeps the order
 * of what the client sent), a `ProtocolError` closes the connection.
 *
 * @example
 * const held = inbound.handle(engine, message);
 */
export class Inbound {
  readonly #context: InboundContext;

  constructor(context: InboundContext) {
    this.#context = context;
  }

  handle(engine: ConnectionEngine, message: Message): Promise<void> | ProtocolError | undefined {
    switch (message.t) {
      case 'evt':
      case 'req':
        return this.#hooked(engine, message);
      case 'auth':
        return this.#context.refresh(engine, message).catch((err) => {
          this.#context.logger.error({ err, connId: engine.id }, 'credentials refresh failed');
          engine.close(CloseCode.InternalError, 'credentials refresh failed');
        });
      default:
        return new ProtocolError(
          ErrorCode.BadMessage,
          `"${message.t}" is not a client message`,
          CloseCode.BadMessage,
        );
    }
  }

  /** Runs the hooks, then the message; a hook's promise makes the whole a promise. */
  #hooked(engine: ConnectionEngine, message: EventMessage | RequestMessage): Promise<void> | undefined {
    const hooks = this.#context.hooks;
    // Reserved names are refused further on whatever a hook says: hooks see the app's events only.
    if (hooks.length === 0 || isReservedEvent(message.e)) {
      this.#pass(engine, message);
      return undefined;
    }
    const conn = handleOf(engine);
    for (let i = 0; i < hooks.length; i++) {
      let result: unknown;
      try {
        result = hooks[i]!(conn, message.e, message.d);
      } catch (err) {
        this.#refuse(engine, message, err);
        return undefined;
      }
      if (result instanceof Promise) return this.#rest(engine, message, result, i + 1);
    }
    this.#pass(engine, message);
    return undefined;
  }

  async #rest(
    engine: ConnectionEngine,
    message: EventMessage | RequestMessage,
    pending: Promise<unknown>,
    next: number,
  ): Promise<void> {
    const hooks = this.#context.hooks;
    const conn = handleOf(engine);
    try {
      await pending;
      for (let i = next; i < hooks.length; i++) await hooks[i]!(conn, message.e, message.d);
    } catch (err) {
      this.#refuse(engine, message, err);
      return;
    }
    if (!engine.closed) this.#pass(engine, message);
  }

  #pass(engine: ConnectionEngine, message: EventMessage | RequestMessage): void {
    if (message.t === 'req') this.#context.request(engine, message);
    else this.#dispatch(engine, message.e, message.d);
  }

  /** A refused request gets an error reply; a refused event an `rej` (an event has no reply). */
  #refuse(engine: ConnectionEngine, message: EventMessage | RequestMessage, err: unknown): void {
    const { logger, counters } = this.#context;
    counters.rejected++;
    let code: string = ErrorCode.HandlerError;
    let text = 'refused';
    if (err instanceof TetherError) {
      code = err.code;
      text = err.message;
      logger.debug({ connId: engine.id, event: message.e, code }, 'inbound hook refused');
    } else {
      logger.warn({ err, connId: engine.id, event: message.e }, 'inbound hook threw');
    }
    if (engine.closed) return;
    if (message.t === 'req') engine.send(errorReply(message.id, code, text), false);
    else engine.send({ t: 'rej', e: message.e, c: code, m: text }, false);
  }

  #dispatch(engine: ConnectionEngine, event: string, data: unknown): void {
    if (isReservedEvent(event)) this.#context.counters.rejected++;
    else dispatchEvent(engine, event, data);
  }
}
