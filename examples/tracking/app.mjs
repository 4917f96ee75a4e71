/**
 * The tracking example's server: food delivery with three pages.
 *
 * - driver.html: sends its location every 500 ms (`client.emit`, volatile) and changes the
 *   order's status (`client.request`, acked and retried).
 * - customer.html: joins the room `order:<id>` and watches the driver move (locations are
 *   broadcast with `conflate`, so a slow or returning reader gets the newest one, not a backlog);
 *   status changes reach it as durable notifications (`tether.user(key).notify`): stored first,
 *   delivered when the page is open or whenever it opens next, on any node. The page tells the
 *   server it showed one (`order:seen`), and the driver sees "seen by the customer".
 * - admin.html: a plain `EventSource('/tether/events?room=metrics')`, no Tether client: every
 *   node publishes `tether.metrics()` to the `metrics` room each second.
 *
 * Order state lives in the bus's small key-value store (`bus.get`/`bus.set`), so every node sees
 * the same orders when the bus is Redis. A real app would use its database.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBus, TetherError, TetherServer } from '@tether/server';
import express from 'express';

const here = dirname(fileURLToPath(import.meta.url));

/** The directory of @tether/client's browser build, found through the package's `browser` field. */
function browserClientDir() {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@tether/client/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  return dirname(join(dirname(pkgPath), pkg.browser));
}

/** Redis when a URL is given (several nodes share rooms and orders), otherwise in memory. */
async function createBus(redisUrl) {
  if (!redisUrl) return new MemoryBus();
  const { RedisBus } = await import('@tether/redis-bus');
  return new RedisBus({ url: redisUrl });
}

export const STATUSES = ['placed', 'picked-up', 'on-the-way', 'delivered'];
const ORDER_ID = /^[a-z0-9-]{1,16}$/;
const ORDER_TTL_MS = 24 * 3_600_000;
/** The user key of an order's customer: notifications for the order go to this user. */
const customerOf = (order) => `customer:${order}`;
/** How often a driver's last location is written to the order store (for pages opened later). */
const LOCATION_SAVE_MS = 2_000;

const orderKey = (id) => `example:order:${id}`;
const locationKey = (id) => `example:order:${id}:location`;

function historyFor(room) {
  if (room.startsWith('order:')) return { size: 100, ttlMs: 10 * 60_000 };
  if (room === 'metrics') return { size: 120, ttlMs: 2 * 60_000 };
  return false;
}

function identify(auth) {
  // A plain EventSource (the admin page) sends no auth: it may only read the metrics room.
  if (auth === undefined) return { role: 'viewer' };
  const role = auth?.role;
  const order = auth?.order;
  if ((role === 'driver' || role === 'customer') && typeof order === 'string' && ORDER_ID.test(order))
    return { role, order };
  return null;
}

function finite(value, min, max) {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

/**
 * Starts the tracking server.
 *
 * @param {object} [options]
 * @param {number} [options.port] - default 3001; 0 picks a free port.
 * @param {string} [options.host] - default: every interface.
 * @param {import('@tether/server').Bus} [options.bus] - a bus you own (you close it); default from `redisUrl`.
 * @param {string} [options.redisUrl] - use a RedisBus on this URL (ignored when `bus` is given).
 * @param {string} [options.nodeName] - names this node in the metrics.
 * @param {number} [options.metricsEveryMs] - how often metrics are published; default 1000.
 * @example
 * const tracking = await startTracking({ port: 0 });
 * await tracking.close();
 */
export async function startTracking(options = {}) {
  const nodeName = options.nodeName ?? `node-${randomBytes(2).toString('hex')}`;
  const ownsBus = options.bus === undefined;
  const bus = options.bus ?? (await createBus(options.redisUrl));

  const app = express();
  app.disable('x-powered-by');
  app.use('/vendor', express.static(browserClientDir()));
  app.use(express.static(join(here, 'public')));
  app.get('/healthz', (_req, res) => res.json({ ok: true, node: nodeName, bus: bus.status }));

  const http = createServer(app);
  const tether = new TetherServer({
    server: http,
    bus,
    history: historyFor,
    authenticate: (_req, auth) => identify(auth),
    // Every page of an order's customer is one user: notifications reach all of them.
    userKey: ({ data }) => (data?.role === 'customer' ? customerOf(data.order) : undefined),
    authorizeJoin: (conn, room) => {
      // Metrics are public in this demo; a real dashboard would check a session cookie here.
      if (room === 'metrics') return true;
      return conn.data.role !== 'viewer' && room === `order:${conn.data.order}`;
    },
  });
  tether.on('undelivered', (message) => {
    // A status notification that expired unread, or that a page failed to handle 3 times.
    console.warn(`[${nodeName}] gave up delivering "${message.event}" (${message.reason})`);
  });

  // ---- orders --------------------------------------------------------------------------------

  async function loadOrder(id) {
    const raw = await bus.get(orderKey(id));
    if (raw) return JSON.parse(raw);
    return { id, status: 'placed', seq: 0, changes: [{ status: 'placed', at: Date.now() }] };
  }

  async function snapshot(id) {
    const [order, location] = await Promise.all([loadOrder(id), bus.get(locationKey(id))]);
    return { ...order, location: location ? JSON.parse(location) : null };
  }

  const lastLocationSave = new Map();

  // ---- connections ---------------------------------------------------------------------------

  tether.on('connection', (conn) => {
    const { role, order } = conn.data;
    if (role === 'viewer') return;

    conn.on('order:get', () => snapshot(order));

    if (role === 'customer') {
      // The page showed a status notification: tell the order's room (the driver watches it).
      conn.on('order:seen', (seen) => {
        if (!STATUSES.includes(seen?.status) || !Number.isSafeInteger(seen?.seq)) return;
        tether
          .to(`order:${order}`)
          .emit('seen', { seq: seen.seq, status: seen.status, at: Date.now() })
          .catch(() => {});
      });
      return;
    }

    conn.on('location', (loc) => {
      if (!finite(loc?.lat, -90, 90) || !finite(loc?.lng, -180, 180)) return;
      const location = {
        lat: loc.lat,
        lng: loc.lng,
        heading: finite(loc.heading, 0, 360) ? loc.heading : 0,
        progress: finite(loc.progress, 0, 1) ? loc.progress : 0,
        at: Date.now(),
      };
      // Conflated: a reader that falls behind (or comes back) gets the newest location, not a backlog.
      tether
        .to(`order:${order}`)
        .emit('location', location, { conflate: 'location' })
        .catch(() => {});
      const now = Date.now();
      if (now - (lastLocationSave.get(order) ?? 0) >= LOCATION_SAVE_MS) {
        lastLocationSave.set(order, now);
        bus.set(locationKey(order), JSON.stringify(location), ORDER_TTL_MS).catch(() => {});
      }
    });

    conn.on('order:status', async (data) => {
      const status = data?.status;
      const current = await loadOrder(order);
      if (!STATUSES.includes(status)) throw new TetherError('BAD_STATUS', `unknown status "${status}"`);
      if (STATUSES.indexOf(status) <= STATUSES.indexOf(current.status)) {
        // Already there: a retry that arrived twice, or a second click. Report where the order is.
        if (status === current.status) return { seq: current.seq, status };
        throw new TetherError('STATUS_CONFLICT', `the order is already ${current.status}`);
      }
      const change = { order, status, seq: current.seq + 1, at: Date.now() };
      await bus.set(
        orderKey(order),
        JSON.stringify({
          ...current,
          status,
          seq: change.seq,
          changes: [...current.changes, { status, at: change.at }],
        }),
        ORDER_TTL_MS,
      );
      // Durable: stored before this resolves, delivered to the customer's open pages on any node
      // now, or when a page opens later (the id makes a retried request notify once).
      await tether
        .user(customerOf(order))
        .notify('order:status', change, { id: `${order}:${change.seq}`, ttlMs: ORDER_TTL_MS });
      return { seq: change.seq, status };
    });
  });

  // ---- metrics -------------------------------------------------------------------------------

  let tickSeq = 0;
  let previous = { at: Date.now(), metrics: tether.metrics() };
  const metricsTimer = setInterval(() => {
    const now = Date.now();
    const m = tether.metrics();
    const seconds = Math.max(0.001, (now - previous.at) / 1000);
    const moved =
      m.messages.in + m.messages.out - (previous.metrics.messages.in + previous.metrics.messages.out);
    previous = { at: now, metrics: m };
    const tick = {
      node: nodeName,
      seq: ++tickSeq,
      at: now,
      connections: m.connections,
      messagesPerSec: Math.round((moved / seconds) * 10) / 10,
      messages: m.messages,
      retries: m.acks.retries,
      undelivered: m.acks.undelivered,
      recoveries: m.recoveries,
      rooms: m.rooms,
      bus: m.bus.status,
    };
    tether
      .to('metrics')
      .emit('tick', tick)
      .catch(() => {});
  }, options.metricsEveryMs ?? 1_000);

  let closing;
  const close = () => {
    closing ??= (async () => {
      clearInterval(metricsTimer);
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
      http.listen(options.port ?? 3001, options.host, () => {
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
