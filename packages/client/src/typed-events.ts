// One definition for server and client: the maps are shared by both ends.
export type { EventData, EventMap, EventName, EventReply, UnknownEvents } from '@tether/protocol';
