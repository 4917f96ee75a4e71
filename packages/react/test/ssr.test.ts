import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient } from '@tether/client';
import { TetherServer } from '@tether/server';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTetherHooks,
  TetherProvider,
  useConnectionState,
  useEvent,
  usePresence,
  useRequest,
  useRoom,
  useTetherClient,
} from '../src/index.js';

// A real server that counts every TCP connection made to it: server rendering must make none.
let http: Server;
let tether: TetherServer;
let url: string;
let tcpConnections = 0;

beforeAll(async () => {
  http = createServer((_req, res) => res.end('ok'));
  http.on('connection', () => tcpConnections++);
  tether = new TetherServer({ server: http, authorizeJoin: () => true });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tether`;
});

afterAll(async () => {
  await tether.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

/** Every hook, as a page would use them. */
function Chat() {
  const state = useConnectionState();
  const { room, status, recovered } = useRoom('chat:1');
  const members = usePresence(room);
  const { pending, error } = useRequest('chat:send');
  useEvent(room, 'message', () => {});
  useEvent('badge', () => {});
  const client = useTetherClient();
  return h(
    'p',
    null,
    `state=${state} room=${status} recovered=${String(recovered)} members=${members.length} ` +
      `pending=${pending} error=${error === null ? 'none' : error.message} client=${client ? 'yes' : 'no'}`,
  );
}

type TypedEvents = { 'chat:send': { data: { text: string }; reply: { id: string } } };
const hooks = createTetherHooks<TypedEvents>();

function Typed() {
  const { pending } = hooks.useRequest('chat:send');
  const { status } = hooks.useRoom('chat:2');
  return h('i', null, `${hooks.useConnectionState()} ${status} ${pending}`);
}

/** A request to the server after rendering: by the time it is answered, any earlier connect attempt would have been counted. */
async function fenceConnections(): Promise<number> {
  const before = tcpConnections;
  const res = await fetch(url.replace('/tether', '/fence'));
  await res.text();
  return tcpConnections - before - 1;
}

describe('server rendering', () => {
  it('renders every hook under a provider given a url without creating a client or connecting', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const html = renderToString(h(TetherProvider, { url }, h(Chat)));
    expect(html).toContain('state=connecting room=joining recovered=undefined members=0');
    expect(html).toContain('pending=false error=none client=no');
    expect(await fenceConnections()).toBe(0);
  });

  it('renders with a client the app gave (not connected) and leaves it untouched', async () => {
    const client = new TetherClient(url, { autoConnect: false });
    const html = renderToString(h(TetherProvider, { client }, h(Chat)));
    expect(html).toContain('state=connecting room=joining');
    expect(html).toContain('client=yes');
    expect(client.state).toBe('closed');
    expect(await fenceConnections()).toBe(0);
  });

  it('renders the typed hooks from createTetherHooks the same way', () => {
    expect(renderToString(h(TetherProvider, { url }, h(Typed)))).toContain('connecting joining false');
  });

  it('throws a NO_PROVIDER error when a hook is used outside a provider', () => {
    expect(() => renderToString(h(Chat))).toThrow(expect.objectContaining({ code: 'NO_PROVIDER' }));
  });
});
