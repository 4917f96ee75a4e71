import type { PresenceEvent, PresenceMember } from '@tether/client';

/**
 * Applies one presence change to a member list, returning a new list (or the same one when
 * nothing changed). Idempotent, so a change the list already reflects is harmless.
 *
 * @example
 * applyPresence([], { type: 'join', member: { connId: 'c1', data: { name: 'ada' } } });
 * // [{ connId: 'c1', data: { name: 'ada' } }]
 */
export function applyPresence(list: readonly PresenceMember[], change: PresenceEvent): PresenceMember[] {
  switch (change.type) {
    case 'join':
      return list.some((m) => m.connId === change.member.connId) ? [...list] : [...list, change.member];
    case 'leave':
      return list.filter((m) => m.connId !== change.member.connId);
    case 'reconnect': {
      // The member's session came back on a new connection: same place in the list, new id.
      const rest = list.filter((m) => m.connId !== change.member.connId);
      const at = rest.findIndex((m) => m.connId === change.previousConnId);
      if (at < 0) return [...rest, change.member];
      return [...rest.slice(0, at), change.member, ...rest.slice(at + 1)];
    }
  }
}
