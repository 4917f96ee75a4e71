import { type ByeMessage, CloseCode, type RoomPosition, type ServerMessage } from '@tether/protocol';
import type { Delivery } from './bus.js';

/**
 * The wire form of a room message; `overtook` marks it delivered ahead of older ones (`o: 1`),
 * `withEpoch` names its epoch (`ep`) for a client that has not been told it, `previous` is the
 * connection's previous in-order offset when it is not `offset - 1` (`p`).
 *
 * @example
 * const frame = codec.encode(roomMessage(delivery));
 */
export function roomMessage(
  delivery: Delivery,
  overtook = false,
  withEpoch = false,
  previous?: number,
): ServerMessage {
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
  if (previous !== undefined) message.p = previous;
  return message;
}

/**
 * Tells a member of `room` that messages were lost before the room's next one (see `GapMessage`).
 *
 * @example
 * engine.send(gapNotice('lobby', { epoch, offset }), false);
 */
export function gapNotice(room: string, position: RoomPosition): ServerMessage {
  return { t: 'gap', r: room, ep: position.epoch, off: position.offset };
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
