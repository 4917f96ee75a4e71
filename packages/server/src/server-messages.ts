import { type ByeMessage, CloseCode, type ServerMessage } from '@tether/protocol';
import type { Delivery } from './bus.js';

/**
 * The wire form of a room message; `overtook` marks it delivered ahead of older ones (`o: 1`),
 * `withEpoch` names its epoch (`ep`) for a client that has not been told it.
 *
 * @example
 * const frame = codec.encode(roomMessage(delivery));
 */
export function roomMessage(delivery: Delivery, overtook = false, withEpoch = false): ServerMessage {
  const message: ServerMessage = {
    t: 'msg',
    r: delivery.room,
    e: delivery.event,
    d: delivery.data,
    off: delivery.offset,
  };
  if (withEpoch) message.ep = delivery.epoch;
  if (delivery.volatile) message.v = 1;
  if (overtook) message.o = 1;
  if (delivery.conflate !== undefined) message.k = delivery.conflate;
  return message;
}

/**
 * An error reply to the client's request or join `id`.
 *
 * @example
 * engine.send(errorReply(message.id, ErrorCode.NoHandler, 'no handler'), false);
 */
export function errorReply(id: string, code: string, text: string): ServerMessage {
  return { t: 'err', id, c: code, m: text };
}

/**
 * The reply to the client's request or join `id`.
 *
 * @example
 * engine.send(reply(message.id, result), false);
 */
export function reply(id: string, data: unknown): ServerMessage {
  return { t: 'res', id, d: data };
}

/**
 * Tells a client the server is going away and to come back (elsewhere) within `spreadMs` of the
 * close; with `move`, to open its next connection now, before this one closes.
 *
 * @example
 * engine.send(shutdownNotice(30_000), false);
 */
export function shutdownNotice(spreadMs: number, move = false): ServerMessage {
  const bye: ByeMessage = { t: 'bye', c: CloseCode.ServerClosing, m: SHUTTING_DOWN, rt: spreadMs };
  if (move) bye.mv = 1;
  return bye;
}

/** The reason every shutdown refusal and close gives. */
export const SHUTTING_DOWN = 'server is shutting down';

/**
 * The reason a close listener gets when the transport gave none.
 *
 * @example
 * describeClose(1006); // 'connection lost'
 */
export function describeClose(code: number): string {
  switch (code) {
    case CloseCode.Normal:
      return 'client closed';
    case CloseCode.GoingAway:
      return 'going away';
    case CloseCode.Abnormal:
      return 'connection lost';
    case CloseCode.MessageTooBig:
      return 'message too big';
    default:
      return `closed with code ${code}`;
  }
}
