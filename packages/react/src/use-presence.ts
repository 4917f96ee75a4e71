import type { EventMap, PresenceEvent, PresenceMember, Room } from '@tether/client';
import { useEffect, useState } from 'react';
import { applyPresence } from './presence-list.js';

const NONE: PresenceMember[] = [];

/**
 * The live member list of a joined room: `room.presence()` once, then every `tether:presence`
 * join, leave and reconnect the server announces, and again after each rejoin (announcements are
 * not kept in history, so a reconnect refetches the list). Empty until the first answer, and for
 * a `null` room. Live updates need the server's `presenceEvents` option for the room; without it
 * the list is the one fetched on join.
 *
 * @example
 * const { room } = useRoom('chat:lobby');
 * const members = usePresence(room);
 * return <ul>{members.map((m) => <li key={m.connId}>{String(m.data)}</li>)}</ul>;
 */
export function usePresence<R extends EventMap>(room: Room<R> | null | undefined): PresenceMember[] {
  const [members, setMembers] = useState<PresenceMember[]>(NONE);

  useEffect(() => {
    if (!room) {
      setMembers(NONE);
      return;
    }
    let alive = true;
    let list: PresenceMember[] | null = null;
    // Changes announced while a fetch is in flight are applied on top of its answer, in order.
    let pending: PresenceEvent[] = [];
    let fetch = 0;

    const refetch = () => {
      const mine = ++fetch;
      list = null;
      room.presence().then(
        (members) => {
          if (!alive || mine !== fetch) return;
          list = pending.reduce(applyPresence, members);
          pending = [];
          setMembers(list);
        },
        // The room was left or the client closed: the list no longer matters. A later rejoin
        // fetches again.
        () => {},
      );
    };
    const offChange = room.on('tether:presence', (change) => {
      if (list === null) pending.push(change);
      else setMembers((list = applyPresence(list, change)));
    });
    const offRejoin = room.on('tether:rejoined', refetch);
    refetch();
    return () => {
      alive = false;
      offChange();
      offRejoin();
    };
  }, [room]);

  return members;
}
