import { ErrorCode, isReservedEvent, TetherError } from '@tether/protocol';
import type { ClientEmitOptions } from './client-options.js';
import type { ClientRequestOptions } from './pending-requests.js';
import type { EventMap, EventName, PayloadArgs } from './typed-events.js';

/**
 * The arguments of `client.emit` after the event name: the payload (required where the map
 * declares one), then the options.
 *
 * @example
 * const args: EmitArgs<Events, 'typing'> = [{ on: true }, { volatile: true }];
 */
export type EmitArgs<E extends EventMap, K extends EventName<E>> = PayloadArgs<
  E,
  K,
  [options?: ClientEmitOptions]
>;

/**
 * The arguments of `client.request` after the event name: the payload, then the options.
 *
 * @example
 * const args: RequestArgs<Events, 'chat:send'> = [{ text: 'hi' }, { retries: 3 }];
 */
export type RequestArgs<E extends EventMap, K extends EventName<E>> = PayloadArgs<
  E,
  K,
  [options?: ClientRequestOptions]
>;

/**
 * Throws RESERVED_EVENT for a name the app may not send (the `tether:` prefix is the library's).
 *
 * @example
 * assertUsable('tether:join'); // throws
 */
export function assertUsable(event: string): void {
  if (isReservedEvent(event))
    throw new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`);
}
