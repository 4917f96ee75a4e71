import { type FormEvent, useEffect, useState } from 'react';
import type { ChatMessage } from './events';
import { useEvent, usePresence, useRequest, useRoom } from './hooks';

/**
 * One room: joined while this component is mounted, left when it unmounts. Messages arrive
 * through the room handle, which survives reconnects: after a cut, the ones missed arrive once,
 * in order, and this list never holds a duplicate.
 */
export function ChatRoom({ name }: { name: string }) {
  const { room, status, recovered, error } = useRoom(`chat:${name}`);
  const members = usePresence(room);
  const [messages, setMessages] = useState<Array<ChatMessage & { offset: number }>>([]);
  useEvent(room, 'message', (message, meta) =>
    setMessages((list) => [...list, { ...message, offset: meta.offset }]),
  );
  useCountMounts();

  return (
    <section id="room" data-room={name} data-status={status}>
      <h2>
        #{name} <small id="room-status">{status}</small>
        {recovered === false ? (
          <small id="recovery-failed"> (some messages could not be recovered)</small>
        ) : null}
      </h2>
      {error ? <p role="alert">{error.message}</p> : null}
      <aside>
        <h3>Here now</h3>
        <ul id="members">
          {members.map((m) => (
            <li key={m.connId} data-name={String((m.data as { name?: string } | undefined)?.name)}>
              {String((m.data as { name?: string } | undefined)?.name)}
            </li>
          ))}
        </ul>
      </aside>
      <ol id="messages">
        {messages.map((m) => (
          <li key={m.offset} className="msg" data-offset={m.offset}>
            <b>{m.from}</b> <span className="text">{m.text}</span>
          </li>
        ))}
      </ol>
      <Composer room={`chat:${name}`} />
    </section>
  );
}

function Composer({ room }: { room: string }) {
  const [text, setText] = useState('');
  const { request, pending, error } = useRequest('chat:send');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!text) return;
    // A failure shows through `error`; the promise may be ignored.
    request({ room, text }).then(
      () => setText(''),
      () => {},
    );
  };
  return (
    <form id="composer" onSubmit={submit}>
      <input id="text" value={text} onChange={(e) => setText(e.target.value)} placeholder="Say something" />
      <button id="send" type="submit" aria-busy={pending}>
        {pending ? 'Sending…' : 'Send'}
      </button>
      {error ? (
        <p id="send-error" role="alert" data-code={(error as { code?: string }).code}>
          {error.message}
        </p>
      ) : null}
    </form>
  );
}

/**
 * Development builds (`--mode development`) only: counts how often React ran this component's mount effects, so the
 * end-to-end test can see StrictMode mount the room twice while the server saw one join.
 */
function useCountMounts() {
  useEffect(() => {
    if (import.meta.env.MODE !== 'development') return;
    const w = window as { roomMounts?: number };
    w.roomMounts = (w.roomMounts ?? 0) + 1;
  }, []);
}
