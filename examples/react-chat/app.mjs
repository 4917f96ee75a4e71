/**
 * The React chat example's server: the page (a Vite build of web/) and Tether on one Node http
 * server, nothing else.
 *
 * - A name is all the "login" there is: the page sends it as the client's `auth`.
 * - Rooms are `chat:lobby` and `chat:random`; members see who is there (presence events).
 * - `chat:send` (a request: acked, retried with the same id) publishes a message to the room.
 * - `welcome` (a direct event) tells each connection who the server thinks it is.
 *
 * Two small endpoints make the page's behaviour observable from outside, for the end-to-end
 * tests and for anyone poking at the example: `GET /api/stats` (WebSocket handshakes and connections accepted, joins the
 * server authorized per room, and who is in each room now) and `POST /api/hold?on=1|0` (while on, `chat:send` waits:
 * the page shows its request pending).
 *
 * `startReactChat()` is used by `server.mjs` (the CLI) and by the end-to-end tests.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TetherError, TetherServer } from '@tether/server';

const here = dirname(fileURLToPath(import.meta.url));

const ROOMS = ['chat:lobby', 'chat:random'];
const NAME_MAX = 24;
const TEXT_MAX = 200;
const HISTORY = { size: 500, ttlMs: 3_600_000 };
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/**
 * Builds the page with Vite into `dist/app/` (or `dist/dev/` for `mode: 'development'`: React's
 * development build, where StrictMode mounts every component twice).
 *
 * @param {{ mode?: 'production' | 'development' }} [options]
 * @returns {Promise<string>} the directory written
 * @example
 * const dir = await buildReactChat({ mode: 'development' });
 */
export async function buildReactChat(options = {}) {
  const mode = options.mode ?? 'production';
  // Loaded only when building: serving an existing build needs nothing from Vite.
  const { build } = await import('vite');
  await build({ configFile: join(here, 'vite.config.mjs'), mode, logLevel: 'warn' });
  return join(here, 'dist', mode === 'development' ? 'dev' : 'app');
}

function cleanName(auth) {
  const name = typeof auth?.name === 'string' ? auth.name.trim().replace(/\s+/g, ' ') : '';
  return name.length > 0 && name.length <= NAME_MAX ? name : null;
}

/** Serves a file of the build, or index.html for any other GET (the page has one route). */
function serveStatic(root, req, res) {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
  let file = join(root, path);
  if (!file.startsWith(root + sep) || !existsSync(file) || statSync(file).isDirectory())
    file = join(root, 'index.html');
  if (!existsSync(file)) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('the page is not built: run `pnpm build` here');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
}

/**
 * Starts the React chat server.
 *
 * @param {object} [options]
 * @param {number} [options.port] - default 3000; 0 picks a free port.
 * @param {string} [options.host] - default: every interface.
 * @param {string} [options.distDir] - the built page to serve; default `dist/app/` beside this file.
 * @returns {Promise<import('./app.d.mts').RunningReactChat>}
 * @example
 * const chat = await startReactChat({ port: 0 });
 * console.log(chat.url);
 * await chat.close();
 */
export async function startReactChat(options = {}) {
  const distDir = options.distDir ?? join(here, 'dist', 'app');
  const joins = Object.fromEntries(ROOMS.map((room) => [room, 0]));
  let connections = 0;
  let upgrades = 0;
  let hold = null;

  const http = createServer((req, res) => {
    if (req.url === '/api/stats' && req.method === 'GET') {
      void stats().then((body) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      return;
    }
    if (req.url?.startsWith('/api/hold') && req.method === 'POST') {
      setHold(new URL(req.url, 'http://x').searchParams.get('on') === '1');
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    serveStatic(distDir, req, res);
  });

  // Every WebSocket handshake that reached the server, welcomed or not.
  http.on('upgrade', () => upgrades++);
  const tether = new TetherServer({
    server: http,
    history: (room) => (ROOMS.includes(room) ? HISTORY : false),
    authenticate: (_req, auth) => {
      const name = cleanName(auth);
      return name ? { name } : null;
    },
    authorizeJoin: (_conn, room) => {
      if (!ROOMS.includes(room)) return false;
      joins[room]++;
      return true;
    },
    presenceEvents: (room) => ROOMS.includes(room),
    presenceData: (conn) => ({ name: conn.data.name }),
  });

  tether.on('connection', (conn) => {
    connections++;
    conn.emit('welcome', { name: conn.data.name, connId: conn.id });

    conn.on('chat:send', async (msg) => {
      const room = String(msg?.room ?? '');
      const text = typeof msg?.text === 'string' ? msg.text.trim() : '';
      if (!ROOMS.includes(room) || !conn.rooms.has(room))
        throw new TetherError('NOT_IN_ROOM', 'join the room first');
      if (text.length === 0 || text.length > TEXT_MAX)
        throw new TetherError('BAD_TEXT', `a message has 1 to ${TEXT_MAX} characters`);
      if (hold) await hold.promise;
      const id = `${conn.id}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
      await tether.to(room).emit('message', { id, from: conn.data.name, text, at: Date.now() });
      return { id };
    });
  });

  function setHold(on) {
    if (on && !hold) {
      let release;
      const promise = new Promise((resolve) => {
        release = resolve;
      });
      hold = { promise, release };
    } else if (!on && hold) {
      hold.release();
      hold = null;
    }
  }

  async function stats() {
    const members = {};
    for (const room of ROOMS) members[room] = (await tether.in(room).presence()).map((m) => m.data?.name);
    return JSON.stringify({ connections, upgrades, joins, members });
  }

  let closing;
  const close = () => {
    closing ??= (async () => {
      setHold(false);
      await tether.close();
      http.closeAllConnections();
      if (http.listening) await new Promise((resolve) => http.close(() => resolve()));
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
  return { port, url: `http://localhost:${port}`, tether, http, close };
}
