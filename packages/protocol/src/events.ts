/** Event names the library keeps for itself; user code cannot emit or handle them as messages. */
export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set(['close', 'error']);
export const RESERVED_EVENT_PREFIX = 'tether:';

/**
 * True for names users may not use as message events: `close`, `error` and `tether:*`.
 *
 * @example
 * isReservedEvent('tether:presence'); // true
 */
export function isReservedEvent(name: string): boolean {
  return RESERVED_EVENT_NAMES.has(name) || name.startsWith(RESERVED_EVENT_PREFIX);
}

/** Presence changes are room messages under this reserved name. */
export const PRESENCE_EVENT = 'tether:presence';

/** The built-in request a client acknowledges durable notifications with: `d` is `{ ids: string[] }`. */
export const NOTIFICATION_ACK = 'tether:ack';
