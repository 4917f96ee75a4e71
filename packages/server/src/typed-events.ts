// One definition for server and client: the maps are shared by both ends.
export type {
  ClientEventName,
  EventData,
  EventMap,
  EventName,
  EventReply,
  PayloadArgs,
  PresenceData,
  ServerEventName,
  TypedPresenceMember,
  UnknownEvents,
} from '@tether/protocol';
