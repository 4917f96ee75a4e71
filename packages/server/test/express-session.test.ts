import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient, type TetherError } from '@tether/client';
import express, { type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloseCode, type Connection, ErrorCode, TetherServer, type UnknownEvents } from '../src/index.js';
import { waitForState } from './harness.js';

// The recipe of docs/express-session.md, as written there: express-session and Passport run
// inside `authenticate` against the request Tether authenticates (the WebSocket upgrade, or the
// SSE stream's request), and a Node client logs in over HTTP and passes the session cookie with
// its `headers` option. Real sockets, the real middleware, the default MemoryStore.

interface AppUser {
  id: string;
  name: string;
  password: string;
}

const users: AppUser[] = [{ id: 'u1', name: 'alice', password: 'wonderland' }];

passport.use(
  new LocalStrategy((username, password, done) => {
    const user = users.find((u) => u.name === username && u.password === password);
    done(null, user ?? false);
  }),
);
passport.serializeUser((user, done) => done(null, (user as AppUser).id));
passport.deserializeUser((id: string, done) => done(null, users.find((u) => u.id === id) ?? false));

/** Runs Express middleware against a request Tether is authenticating; rejects if one fails. */
async function runMiddleware(req: IncomingMessage, chain: RequestHandler[]): Promise<void> {
  // Tether answers the request itself: the middleware gets a response that is never sent.
  const res = new ServerResponse(req) as Response;
  for (const middleware of chain) {
    await new Promise<void>((resolve, reject) =>
      middleware(req as Request, res, (err?: unknown) => (err ? reject(err) : resolve())),
    );
  }
}

type UserData = { userId: string; name: string };

let http: Server;
let tether: TetherServer<UnknownEvents, UserData>;
let base: string;
let conns: Connection<UnknownEvents, UserData>[];
/** Method and cookie of every request that reached Tether's path over HTTP (the SSE transport). */
let seen: Array<{ method: string; cookie: string | undefined }>;
const clients: TetherClient[] = [];

beforeEach(async () => {
  const sessionMiddleware = session({ secret: 'test secret', resave: false, saveUninitialized: false });
  const sessionChain: RequestHandler[] = [sessionMiddleware, passport.initialize(), passport.session()];

  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(sessionChain);
  app.post('/login', passport.authenticate('local'), (_req, res) => {
    res.sendStatus(204);
  });
  app.post('/logout', (req, res, next) => {
    req.logout((err) => (err ? next(err) : res.sendStatus(204)));
  });

  http = createServer(app);
  tether = new TetherServer<UnknownEvents, UserData>({
    server: http,
    authenticate: async (req) => {
      await runMiddleware(req, sessionChain);
      const user = (req as Request).user as AppUser | undefined;
      return user ? { userId: user.id, name: user.name } : null;
    },
  });
  conns = [];
  tether.on('connection', (conn) => {
    conns.push(conn);
    conn.on('whoami', () => conn.data);
  });
  seen = [];
  // Tether keeps its own requests from 'request' listeners: look from outside its wrapper.
  const emit = http.emit.bind(http) as (event: string | symbol, ...args: unknown[]) => boolean;
  http.emit = ((event: string | symbol, ...args: unknown[]) => {
    const req = args[0] as IncomingMessage;
    if (event === 'request' && req.url?.startsWith('/tether'))
      seen.push({ method: req.method ?? '', cookie: req.headers.cookie });
    return emit(event, ...args);
  }) as typeof http.emit;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await tether.close();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

/** Logs in over HTTP; resolves to the session cookie (`connect.sid=...`). */
async function login(username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    body: new URLSearchParams({ username, password }),
  });
  expect(res.status).toBe(204);
  const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
  expect(cookie).toMatch(/^connect\.sid=/);
  return cookie as string;
}

function connect(options: ConstructorParameters<typeof TetherClient>[1]): TetherClient {
  const client = new TetherClient(`${base}/tether`, {
    reconnect: { initialDelay: 20, maxDelay: 100 },
    ...options,
  });
  clients.push(client);
  return client;
}

/** The first error the client reports, once it has closed. */
async function refusal(client: TetherClient): Promise<TetherError> {
  const error = new Promise<TetherError>((resolve) => client.on('error', resolve));
  await waitForState(client, 'closed');
  return error;
}

describe('express-session and Passport in authenticate', () => {
  it('WebSocket: the session cookie on the upgrade makes conn.data the logged-in user', async () => {
    const cookie = await login('alice', 'wonderland');
    const client = connect({ headers: { cookie }, transports: ['websocket'] });
    expect(await client.request('whoami')).toEqual({ userId: 'u1', name: 'alice' });
    expect(client.transport).toBe('websocket');
    expect(seen).toEqual([]);
  });

  it('SSE: the cookie goes on the stream and on every POST', async () => {
    const cookie = await login('alice', 'wonderland');
    const client = connect({ headers: { cookie }, transports: ['sse'] });
    expect(await client.request('whoami')).toEqual({ userId: 'u1', name: 'alice' });
    expect(await client.request('whoami')).toEqual({ userId: 'u1', name: 'alice' });
    expect(client.transport).toBe('sse');
    const methods = new Set(seen.map((r) => r.method));
    expect(methods).toEqual(new Set(['GET', 'POST']));
    expect(seen.filter((r) => r.cookie !== cookie)).toEqual([]);
  });

  it('without the cookie, or with a wrong password, the connection is refused (UNAUTHORIZED)', async () => {
    const anonymous = connect({ transports: ['websocket'] });
    expect((await refusal(anonymous)).code).toBe(ErrorCode.Unauthorized);

    const bad = await fetch(`${base}/login`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'alice', password: 'guess' }),
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.getSetCookie()).toEqual([]);

    const overSse = connect({ transports: ['sse'] });
    expect((await refusal(overSse)).code).toBe(ErrorCode.Unauthorized);
  });

  it('reads the session again on each connect: after a logout the reconnect is refused', async () => {
    const cookie = await login('alice', 'wonderland');
    const client = connect({ headers: () => ({ cookie }), transports: ['websocket'] });
    expect(await client.request('whoami')).toEqual({ userId: 'u1', name: 'alice' });

    const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } });
    expect(logout.status).toBe(204);
    const refused = refusal(client);
    conns[0]!.close(CloseCode.InternalError, 'drop for the test');
    expect((await refused).code).toBe(ErrorCode.Unauthorized);
    expect(conns).toHaveLength(1);
  });
});
