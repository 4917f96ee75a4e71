import { ErrorCode, MAX_NAME_LENGTH, TetherError } from '@tether/protocol';

// Printable ASCII without spaces, quotes or backslashes: safe in logs, Redis keys and URLs.
const ROOM_NAME = /^[A-Za-z0-9_:.\-@/+=#~!$%&*|^]+$/;

/**
 * Checks a room name: 1 to 256 characters from a conservative set (letters, digits and
 * `_ : . - @ / + = # ~ ! $ % & * | ^`). Returns the error to report, or undefined when valid.
 *
 * @example
 * validateRoomName('order:42'); // undefined
 * validateRoomName('a b')?.code; // 'INVALID_ROOM'
 */
export function validateRoomName(room: unknown): TetherError | undefined {
  if (
    typeof room !== 'string' ||
    room.length === 0 ||
    room.length > MAX_NAME_LENGTH ||
    !ROOM_NAME.test(room)
  ) {
    return new TetherError(
      ErrorCode.InvalidRoom,
      `room names are 1-${MAX_NAME_LENGTH} characters of letters, digits and _:.-@/+=#~!$%&*|^`,
    );
  }
  return undefined;
}
