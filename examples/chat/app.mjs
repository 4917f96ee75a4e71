/**
 * The chat example's server: an Express 5 app with Tether attached to the same http server.
 *
 * - `/` serves the page (public/), `/vendor/tether-client.js` the browser build of @tether/client.
 * - A name is all the "login" there is: the page sends it as the client's `auth`.
 * - Rooms are `chat:<slug>`; any signed-in user may join any of them.
 * - `chat:send` (a request: acked, retried by the client with the same id) publishes a message.
 * - `chat:history` returns the last messages of a room, read from Tether's own room history on
 *   the bus, so it is the same on every node when the bus is Redis.
 * - `typing` (a volatile emit) is passed on to the room as a volatile broadcast.
 * - `@name` in a message notifies that user (`tether.user(name).notify`): a durable notification,
 *   delivered at once to their open pages, or when they next sign in (within a day).
 * - `POST /demo/network-drop` cuts the calling page's sockets for a few seconds (network-drop.mjs),
 *   so a visitor can watch the page reconnect and catch up; `/start` says what to try.
 *
 * Tether runs in noServer mode: this file routes `/tether` itself, so the network-drop gate sees
 * every socket first.
 *
 * `startChat()` is used by `server.mjs` (the CLI) and by the end-to-end tests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBus, TetherServer } from '@tether/server';
import express from 'express';
import { NetworkDrops, visitorOf } from './network-drop.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** How many messages a room keeps, and for how long: the window for history and recovery. */
const HISTORY = { size: 500, ttlMs: 24 * 3_600_000 };
/** How many messages `chat:history` returns. */
const HISTORY_PAGE = 50;
const ROOM = /^chat:[a-z0-9][a-z0-9-]{0,23}$/;
const NAME_MAX = 24;
const TEXT_MAX = 2_000;
/** `@name` mentions: a name without spaces; at most this many users notified per message. */
const MENTION = /@([^\s@]{1,24})/g;
const MAX_MENTIONS = 5;
const MENTION_TTL_MS = 24 * 3_600_000;
const TETHER_PATH = '/tether';
const underTether = (url = '') => {
  const path = url.split('?')[0];
  return path === TETHER_PATH || path.startsWith(`${TETHER_PATH}/`);
};

/**
 * The directory holding the browser build of @tether/client, found through the package's own
 * `browser` field, so the example serves whatever `pnpm build` produced.
 */
export function browserClientDir() {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@tether/client/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  return dirname(join(dirname(pkgPath), pkg.browser));
}

/** The bus: Redis when a URL is given (several nodes share rooms), otherwise in memory (one node). */
export async function createBus(redisUrl) {
  if (!redisUrl) return new MemoryBus();
  // Loaded only when asked for, so the in-memory setup needs nothing from Redis.
  const { RedisBus } = await import('@tether/redis-bus');
  return new RedisBus({ url: redisUrl });
}

function cleanName(auth) {
  const name = typeof auth?.name === 'string' ? auth.name.trim().replace(/\s+/g, ' ') : '';
  return name.length > 0 && name.length <= NAME_MAX ? name : null;
}

// A handler that throws answers the request with an error at once: the client does not retry it.
function badRequest(message) {
  return new Error(message);
}

/**
 * Starts the chat server.
 *
 * @param {object} [options]
 * @param {number} [options.port] - default 3000; 0 picks a free port.
 * @param {string} [options.host] - default: every interface.
 * @param {import('@tether/server').Bus} [options.bus] - a bus you own (you close it); default from `redisUrl`.
 * @param {string} [options.redisUrl] - use a RedisBus on this URL (ignored when `bus` is given).
 * @param {string} [options.nodeName] - shown on the page; useful with several nodes.
 * @param {number} [options.networkDropMs] - how long "simulate a network drop" cuts a page off; default 3000.
 * @param {number} [options.trackingPort] - the tracking demo's port on this host, for the links on `/start`.
 * @returns {Promise<{ port: number, url: string, nodeName: string, tether: TetherServer, http: import('node:http').Server, close(): Promise<void> }>}
 * @example
 * const chat = await startChat({ port: 0 });
 * console.log(chat.url);
 * await chat.close();
 */
export async function startChat(options = {}) {
  const nodeName = options.nodeName ?? `node-${randomBytes(2).toString('hex')}`;
  const ownsBus = options.bus === undefined;
  const bus = options.bus ?? (await createBus(options.redisUrl));

  const drops = new NetworkDrops({ durationMs: options.networkDropMs ?? 3_000 });

  const app = express();
  app.disable('x-powered-by');
  app.use('/vendor', express.static(browserClientDir()));
  app.get('/start', (_req, res) => res.sendFile(join(here, 'public', 'start.html')));
  app.use(express.static(join(here, 'public')));
  app.get('/healthz', (_req, res) => res.json({ ok: true, node: nodeName, bus: bus.status }));
  app.get('/demo/config', (_req, res) =>
    res.json({ trackingPort: options.trackingPort ?? null, networkDropMs: drops.durationMs }),
  );
  app.post('/demo/network-drop', express.json({ limit: '1kb' }), (req, res) => {
    const visitor = visitorOf({ url: `?visitor=${encodeURIComponent(String(req.body?.visitor ?? ''))}` });
    if (!visitor) return res.status(400).json({ error: { code: 'BAD_VISITOR', message: 'no visitor id' } });
    // Behind a load balancer this request can reach a node that does not hold the page's
    // connection: say so instead of pretending to cut.
    if (drops.socketCount(visitor) === 0)
      return res.status(409).json({
        error: { code: 'NOT_HERE', message: `this page has no connection on ${nodeName} to cut` },
      });
    // Answer first: the cut may take this request's own keep-alive socket with it.
    res.json({ ok: true, durationMs: drops.durationMs });
    res.once('finish', () => {
      const cut = drops.drop(visitor);
      console.log(
        `[${nodeName}] network drop for visitor ${visitor}: ${cut} socket(s) cut for ${drops.durationMs} ms`,
      );
    });
  });

  // Everything at /tether goes through the drop gate, then to Tether; the rest to Express.
  const http = createServer((req, res) => {
    if (!underTether(req.url)) return app(req, res);
    if (drops.admit(req, req.socket)) tether.handleRequest(req, res);
  });
  http.on('upgrade', (req, socket, head) => {
    if (!underTether(req.url)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (drops.admit(req, socket)) void tether.handleUpgrade(req, socket, head);
  });
  const tether = new TetherServer({
    path: TETHER_PATH,
    bus,
    history: (room) => (ROOM.test(room) ? HISTORY : false),
    authenticate: (_req, auth) => {
      const name = cleanName(auth);
      return name ? { name } : null;
    },
    authorizeJoin: (_conn, room) => ROOM.test(room),
    // The user behind `tether.user(name)`: the name is the whole identity in this demo.
    userKey: ({ data }) => data?.name,
    // Chat rooms show who is there: members get join/leave events.
    presenceEvents: (room) => ROOM.test(room),
    // Presence shows nothing of conn.data unless told: the name is the public part.
    presenceData: (conn) => ({ name: conn.data.name }),
  });

  /** Each `@name` in a message: a durable notification for that user, once per message (the id). */
  function notifyMentions(room, from, text, cid) {
    const names = new Set([...text.matchAll(MENTION)].map((m) => m[1]));
    names.delete(from);
    for (const name of [...names].slice(0, MAX_MENTIONS)) {
      tether
        .user(name)
        .notify(
          'chat:mention',
          { room, from, text, cid },
          { id: `mention:${cid}:${name}`, ttlMs: MENTION_TTL_MS },
        )
        .catch((err) => console.warn(`[${nodeName}] mention of ${name} not stored: ${err.message}`));
    }
  }

  tether.on('connection', (conn) => {
    conn.emit('hello', { node: nodeName, name: conn.data.name });

    conn.on('chat:send', async (msg) => {
      const room = String(msg?.room ?? '');
      const text = typeof msg?.text === 'string' ? msg.text.trim() : '';
      const cid = typeof msg?.cid === 'string' ? msg.cid : '';
      if (!ROOM.test(room)) throw badRequest('no such room');
      if (text.length === 0 || text.length > TEXT_MAX)
        throw badRequest(`a message has 1 to ${TEXT_MAX} characters`);
      if (cid.length === 0 || cid.length > 64) throw badRequest('a message needs a client id');
      // The client id doubles as the publish id: a message sent again (a "retry" click after a
      // failure, or a retry that reached another node) is published once.
      const position = await tether
        .to(room)
        .emit('message', { cid, from: conn.data.name, text, ts: Date.now() }, { id: `chat:${cid}` });
      notifyMentions(room, conn.data.name, text, cid);
      return { epoch: position.epoch, offset: position.offset, duplicate: position.duplicate };
    });

    conn.on('chat:history', async (query) => {
      const room = String(query?.room ?? '');
      if (!ROOM.test(room)) throw badRequest('no such room');
      // Where the room stands now, then the messages after (current offset - page size).
      const head = await bus.history(room, undefined, 0);
      const from = Math.max(0, head.offset - HISTORY_PAGE);
      const page = await bus.history(room, { epoch: head.epoch, offset: from }, HISTORY_PAGE);
      return {
        epoch: page.epoch,
        offset: page.offset,
        messages: page.messages.map((m) => ({ ...m.data, epoch: m.epoch, offset: m.offset })),
      };
    });

    conn.on('typing', (data) => {
      const room = String(data?.room ?? '');
      if (!ROOM.test(room) || !conn.rooms.has(room)) return;
      // Volatile: not stored, not recovered, dropped first when a receiver is slow.
      conn
        .to(room)
        .emit('typing', { from: conn.data.name }, { volatile: true })
        .catch(() => {});
    });
  });

  let closing;
  const close = () => {
    closing ??= (async () => {
      drops.close();
      await tether.close();
      http.closeAllConnections();
      if (http.listening) await new Promise((resolve) => http.close(() => resolve()));
      if (ownsBus) await bus.close();
    })();
    return closing;
  };

  try {
    await new Promise((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 3000, options.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await close();
    throw err;
  }
  const port = http.address().port;
  return { port, url: `http://localhost:${port}`, nodeName, tether, http, close };
}
