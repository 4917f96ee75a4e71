import type { PresenceMember } from './presence.js';

/**
 * Optional event maps type payloads and replies end to end. One map is shared by server and
 * client: each entry names the event's `data` and, for requests, its `reply`. An entry may say
 * which side sends it (`from: 'client'` or `from: 'server'`); without `from` it goes both ways.
 * The reserved key `'tether:presence'` types presence member data (what `presenceData` returns).
 *
 * @example
 * type Events = {
 *   'chat:send': { from: 'client'; data: { text: string }; reply: { ok: boolean } };
 *   location: { from: 'server'; data: { lat: number; lng: number } };
 *   'tether:presence': { data: { name: string } };
 * };
 * new TetherServer<Events>({ server }); new TetherClient<Events>(url);
 */
export type EventMap = { [event: string]: { data?: unknown; reply?: unknown; from?: 'client' | 'server' } };

/** The map used when none is given: every event carries `unknown`. */
export type UnknownEvents = EventMap;

/** Event names of a map (string keys only). */
export type EventName<E extends EventMap> = Extract<keyof E, string>;

/** Names the client sends (`client.emit`, `client.request`, the server's `conn.on`). */
export type ClientEventName<E extends EventMap> = {
  [K in EventName<E>]: K extends `tether:${string}` ? never : E[K] extends { from: 'server' } ? never : K;
}[EventName<E>];

/** Names the server sends (`conn.emit`, `conn.request`, broadcasts, the client's `on`). */
export type ServerEventName<E extends EventMap> = {
  [K in EventName<E>]: K extends `tether:${string}` ? never : E[K] extends { from: 'client' } ? never : K;
}[EventName<E>];

/** The payload type of an event (`undefined` when its entry declares no `data`). */
export type EventData<E extends EventMap, K extends EventName<E>> = 'data' extends keyof E[K]
  ? E[K]['data']
  : undefined;

/** The reply type of a request. */
export type EventReply<E extends EventMap, K extends EventName<E>> = E[K] extends { reply: infer R }
  ? R
  : unknown;

/**
 * The arguments after the event name: the payload is required where the map declares one that
 * cannot be `undefined`, optional otherwise; `Rest` (the call's options) follows.
 */
export type PayloadArgs<E extends EventMap, K extends EventName<E>, Rest extends unknown[] = []> =
  undefined extends EventData<E, K>
    ? [data?: EventData<E, K>, ...rest: Rest]
    : [data: EventData<E, K>, ...rest: Rest];

/** The presence data of a map (`'tether:presence': { data: … }`), `unknown` without one. */
export type PresenceData<E extends EventMap> = E extends { 'tether:presence': { data: infer P } }
  ? P
  : unknown;

/** A presence entry typed by the map. */
export type TypedPresenceMember<E extends EventMap> = PresenceMember<PresenceData<E>>;
