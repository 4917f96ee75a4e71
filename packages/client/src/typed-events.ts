/**
 * Optional event maps type payloads and replies end to end; the same map serves the server.
 *
 * @example
 * type Events = { 'chat:send': { data: { text: string }; reply: { ok: boolean } } };
 * const client = new TetherClient<Events>(url);
 * const reply = await client.request('chat:send', { text: 'hi' }); // reply: { ok: boolean }
 */
export type EventMap = { [event: string]: { data?: unknown; reply?: unknown } };
export type UnknownEvents = { [event: string]: { data: unknown; reply: unknown } };
export type EventName<E extends EventMap> = Extract<keyof E, string>;
export type EventData<E extends EventMap, K extends EventName<E>> = E[K] extends { data: infer D }
  ? D
  : undefined;
export type EventReply<E extends EventMap, K extends EventName<E>> = E[K] extends { reply: infer R }
  ? R
  : unknown;
