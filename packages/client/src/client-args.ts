import type { RequestMessage } from '@tether/protocol';
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
 * A request message, with the caller's trace context when the app gave a `traceContext` hook
 * (and it returned one).
 *
 * @example
 * codec.encode(requestMessage(id, 'chat:send', { text: 'hi' }, undefined));
 */
export function requestMessage(
  id: string,
  event: string,
  data: unknown,
  tc: Record<string, string> | undefined,
): RequestMessage {
  return tc ? { t: 'req', id, e: event, d: data, tc } : { t: 'req', id, e: event, d: data };
}
