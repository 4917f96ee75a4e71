/**
 * Optional event maps type payloads and replies end to end. One map is shared by server and
 * client: each entry names the event's `data` and, for requests, its `reply`.
 *
 * @example
 * type Events = {
 *   'chat:send': { data: { text: string }; reply: { ok: boolean } };
 *   location: { data: { lat: number; lng: number } };
 * };
 * new TetherServer<Events>({ server }); new TetherClient<Events>(url);
 */
export type EventMap = { [event: string]: { data?: unknown; reply?: unknown } };

/** The map used when none is given: every event carries `unknown`. */
export type UnknownEvents = { [event: string]: { data: unknown; reply: unknown } };

/** Event names of a map (string keys only). */
export type EventName<E extends EventMap> = Extract<keyof E, string>;

/** The payload type of an event. */
export type EventData<E extends EventMap, K extends EventName<E>> = E[K] extends { data: infer D }
  ? D
  : undefined;

/** The reply type of a request. */
export type EventReply<E extends EventMap, K extends EventName<E>> = E[K] extends { reply: infer R }
  ? R
  : unknown;
