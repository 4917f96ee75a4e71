import type { Codec, Frame } from '@tether/protocol';
import type { Delivery } from './bus.js';
import type { RoomMembership } from './room-memberships.js';
import { roomMessage } from './server-messages.js';

/**
 * The frame a room message leaves a connection as, decided when it is written: the shared
 * broadcast frame, or one of this connection's own when the message overtook older ones of its
 * room (`o: 1`, or the client would take its offset for its resume position and drop the older
 * ones as duplicates), when its epoch is news to the client (`ep`), or when offsets before it were
 * left out on purpose for this connection (`p`: the previous in-order offset it got). On purpose
 * means: passed over (`except`, a reported loss, see `ConnectionEngine.passOver`), sent ahead
 * (`o: 1`), or replaced by a conflated value. Any other jump goes out without `p`, so the client
 * sees a gap and resumes the room. Updates what the membership says the client has.
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
  const { offset } = delivery;
  const newEpoch = membership.told !== delivery.epoch;
  let previous: number | undefined;
  if (newEpoch) membership.sent = membership.skipped = offset - 1;
  if (!overtook) {
    const jumped = membership.sent !== offset - 1;
    if (jumped && (membership.skipped >= offset - 1 || delivery.conflate !== undefined))
      previous = membership.sent;
    membership.sent = offset;
  }
  if (membership.skipped < offset) membership.skipped = offset;
  if (!newEpoch && !overtook && previous === undefined) return shared;
  if (newEpoch) membership.told = delivery.epoch;
  return codec.encode(roomMessage(delivery, overtook, newEpoch, previous));
}
