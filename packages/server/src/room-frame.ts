import type { Codec, Frame } from '@tether/protocol';
import type { Delivery } from './bus.js';
import type { RoomMembership } from './room-memberships.js';
import { roomMessage } from './server-messages.js';

/**
 * The frame a room message leaves a connection as, decided when it is written: the shared
 * broadcast frame, or one of this connection's own when the message overtook older ones of its
 * room (`o: 1`, or the client would take its offset for its resume position and drop the older
 * ones as duplicates), when its epoch is news to the client (`ep`), or when the previous in-order
 * offset this connection got is not `offset - 1` (`p`: the server left offsets out on purpose,
 * e.g. the sender of an `except` broadcast). Updates what the membership says the client has.
 *
 * @example
 * transport.send(roomFrame(codec, membership, delivery, sharedFrame, false));
 */
export function roomFrame(
  codec: Codec,
  membership: RoomMembership,
  delivery: Delivery,
  shared: Frame,
  overtook: boolean,
): Frame {
  if (delivery.volatile) return shared;
  const newEpoch = membership.told !== delivery.epoch;
  let previous: number | undefined;
  if (!overtook) {
    if (!newEpoch && membership.sent !== delivery.offset - 1) previous = membership.sent;
    membership.sent = delivery.offset;
  }
  if (!newEpoch && !overtook && previous === undefined) return shared;
  if (newEpoch) membership.told = delivery.epoch;
  return codec.encode(roomMessage(delivery, overtook, newEpoch, previous));
}
