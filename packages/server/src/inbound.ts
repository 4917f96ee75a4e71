import { CloseCode, type Logger, type ProtocolError, type ServerMessage } from '@tether/protocol';
import type { Handler } from './handler-table.js';
import type { Metrics } from './metrics.js';
import { errorReply } from './server-messages.js';

/** What the functions here need of the connection that received a frame (its engine). */
export interface Receiver {
  readonly id: string;
  readonly context: { readonly counters: Metrics; readonly logger: Logger };
  send(message: ServerMessage, volatile: boolean): boolean;
  close(code: number, reason: string): void;
}

/**
 * A frame the decoder refused. A well-formed request envelope whose content was refused (the
 * error names its `requestId`: a `__proto__` key, nesting past the limit, a bad field) is
 * answered with a BAD_MESSAGE error reply for that id, and the connection and its other requests
 * carry on. Anything else closes the connection with the error's close code (4000, 4001).
 *
 * @example
 * try { message = codec.decode(frame) } catch (err) { refuseFrame(engine, err as ProtocolError) }
 */
export function refuseFrame(receiver: Receiver, err: ProtocolError): void {
  const { counters, logger } = receiver.context;
  counters.rejected++;
  if (err.requestId !== undefined) {
    logger.debug({ connId: receiver.id, requestId: err.requestId, msg: err.message }, 'request refused');
    receiver.send(errorReply(err.requestId, err.code, err.message), false);
    return;
  }
  logger.debug({ connId: receiver.id, code: err.code, msg: err.message }, 'protocol violation');
  receiver.close(err.closeCode ?? CloseCode.BadMessage, err.message);
}

/**
 * Runs the handlers of a client event in order. What a handler throws or rejects with is logged
 * (`warn`), never passed on: a client's event cannot break the server.
 *
 * @example
 * dispatchEvent(engine, engine.handlersOf('typing'), 'typing', data);
 */
export function dispatchEvent(
  receiver: Receiver,
  handlers: readonly Handler[] | undefined,
  event: string,
  data: unknown,
): void {
  for (const handler of handlers ?? []) {
    try {
      const result = handler(data);
      if (result instanceof Promise)
        result.catch((err) =>
          receiver.context.logger.warn({ err, event, connId: receiver.id }, 'event handler rejected'),
        );
    } catch (err) {
      receiver.context.logger.warn({ err, event, connId: receiver.id }, 'event handler threw');
    }
  }
}
