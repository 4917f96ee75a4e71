import { TetherProvider } from '@tether/react';
import { type FormEvent, useState } from 'react';
import { ChatRoom } from './chat-room';
import { useConnectionState, useEvent } from './hooks';

const ROOMS = ['lobby', 'random'];

/** Sign-in (a name is all there is), then the chat under one Tether provider. */
export function App() {
  const [name, setName] = useState<string | null>(null);
  if (name === null) return <SignIn onDone={setName} />;
  // The provider creates its client after mounting (never during rendering) and closes it when
  // unmounted; `auth` goes with every connect attempt.
  return (
    <TetherProvider url={`${location.origin}/tether`} options={{ auth: { name } }}>
      <Chat name={name} />
    </TetherProvider>
  );
}

function SignIn({ onDone }: { onDone: (name: string) => void }) {
  const [draft, setDraft] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (draft.trim()) onDone(draft.trim());
  };
  return (
    <form id="sign-in" onSubmit={submit}>
      <h1>Tether React chat</h1>
      <input id="name" placeholder="Your name" value={draft} onChange={(e) => setDraft(e.target.value)} />
      <button type="submit">Enter</button>
    </form>
  );
}

function Chat({ name }: { name: string }) {
  const state = useConnectionState();
  const [room, setRoom] = useState(ROOMS[0] as string);
  const [open, setOpen] = useState(true);
  const [welcome, setWelcome] = useState<string | null>(null);
  // A direct event from the server, not from a room.
  useEvent('welcome', (data) => setWelcome(data.name));

  return (
    <main>
      <header>
        <span id="conn" data-state={state}>
          {state}
        </span>
        <span id="me">{welcome ? `signed in as ${welcome}` : name}</span>
        <nav>
          {ROOMS.map((r) => (
            <button key={r} type="button" data-room={r} aria-pressed={r === room} onClick={() => setRoom(r)}>
              #{r}
            </button>
          ))}
          <label>
            <input
              id="show-room"
              type="checkbox"
              checked={open}
              onChange={(e) => setOpen(e.target.checked)}
            />
            show room
          </label>
        </nav>
      </header>
      {open ? <ChatRoom key={room} name={room} /> : <p id="no-room">No room open: you are in none.</p>}
    </main>
  );
}
