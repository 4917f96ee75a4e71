import type { Position } from './messages.js';

/**
 * A place in a room's history as the server and the bus keep it: the epoch names one history
 * lineage, offsets count within it (starting at 1; 0 means "before the first message"). The wire
 * carries the same thing as the tuple `Position`; `toWirePosition` and `fromWirePosition` are the
 * only conversions between the two.
 *
 * @example
 * const since: RoomPosition = { epoch: 'e1', offset: 41 };
 */
export interface RoomPosition {
  epoch: string;
  offset: number;
}

/**
 * The wire tuple of a position.
 *
 * @example
 * toWirePosition({ epoch: 'e1', offset: 41 }); // ['e1', 41]
 */
export function toWirePosition(position: RoomPosition): Position {
  return [position.epoch, position.offset];
}

/**
 * A position from its wire tuple; `undefined` stays `undefined`.
 *
 * @example
 * fromWirePosition(['e1', 41]); // { epoch: 'e1', offset: 41 }
 */
export function fromWirePosition(position: Position | undefined): RoomPosition | undefined {
  return position === undefined ? undefined : { epoch: position[0], offset: position[1] };
}
