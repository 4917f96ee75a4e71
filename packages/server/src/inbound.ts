import { CloseCode, type Logger, type ProtocolError, type ServerMessage } from '@tether/protocol';
import type { Handler, Handlers } from './handler-table.js';
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
 * Runs the handlers of a client event in order, including those a handler adds meanwhile. What a
 * handler throws or rejects with is logged (`warn`), never passed on: a client's event cannot
 * break the server.
 *
 * @example
 * dispatchEvent(engine, 'typing', data);
 */
export function dispatchEvent(receiver: EventReceiver, event: string, data: unknown): void {
  const handlers = receiver.handlersOf(event);
  if (typeof handlers !== 'function') {
    for (const handler of handlers ?? []) callHandler(receiver, handler, event, data);
    return;
  }
  callHandler(receiver, handlers, event, data);
  // The lone handler added another for this event: the entry became a list, which the handlers
  // after this one are in (a list's dispatch sees additions too, as it reads the list in place).
  const now = receiver.handlersOf(event);
  if (typeof now === 'function' || now === undefined || now[0] !== handlers) return;
  for (let i = 1; i < now.length; i++) callHandler(receiver, now[i]!, event, data);
}

/** What event dispatch needs of the connection: its handlers. */
export interface EventReceiver extends Receiver {
  handlersOf(event: string): Handlers | undefined;
}

function callHandler(receiver: Receiver, handler: Handler, event: string, data: unknown): void {
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
