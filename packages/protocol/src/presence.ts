/**
 * A member of a room as presence reports it, on the wire, on the bus and in the client: which
 * connection, and the public data the app chose for it (the server's `presenceData(conn)`).
 *
 * @example
 * const members: PresenceMember<{ name: string }>[] = await room.presence();
 * members.map((m) => m.data.name);
 */
export interface PresenceMember<Data = unknown> {
  connId: string;
  data: Data;
}
