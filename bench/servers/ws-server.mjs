// Raw `ws` baseline: a minimal hand-written room broadcast, done the fast way.
// - each broadcast is encoded once (JSON once, WebSocket frame once: Sender.frame, the
//   technique from ws issue #617 that Socket.IO also uses) and the same frame goes to every socket;
// - corking: the first send to a socket in a tick corks its TCP socket, and one process.nextTick
//   uncorks them all, so all messages a socket gets in a tick leave in one write.
// Cross-node: ioredis pub/sub, one channel per room; the publishing node delivers locally and
// tells the other nodes through Redis (messages carry the origin node id to skip our own echo).
import { Sender, WebSocketServer } from 'ws';
import { waitDrain } from '../lib/util.mjs';

const CORKED = Symbol('corked');
const HWM = 64 * 1024; // outgoing bytes queued in user land above which the broadcaster waits

export async function load() {}

export async function create({ httpServer, room, heartbeatMs, redisUrl, nodeId }) {
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, clientTracking: false });
  const rooms = new Map(); // room -> Set<WebSocket>
  const all = new Set();
  let served = 0;

  const corked = [];
  let flushScheduled = false;
  const uncorkAll = () => {
    flushScheduled = false;
    for (let i = 0; i < corked.length; i++) {
      const ws = corked[i];
      ws[CORKED] = false;
      ws._socket.uncork();
    }
    corked.length = 0;
  };
  const cork = (ws) => {
    if (ws[CORKED]) return;
    ws[CORKED] = true;
    ws._socket.cork();
    corked.push(ws);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(uncorkAll);
    }
  };
  const frameOf = (text) =>
    Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  const sendFrame = (ws, frame) => {
    if (ws.readyState !== 1) return;
    cork(ws);
    ws._sender.sendFrame(frame);
  };
  const sendText = (ws, text) => {
    if (ws.readyState !== 1) return;
    cork(ws);
    ws.send(text);
  };
  const join = (ws, name) => {
    let set = rooms.get(name);
    if (!set) rooms.set(name, (set = new Set()));
    set.add(ws);
    (ws.rooms ??= new Set()).add(name);
  };
  const broadcastLocal = (name, frame) => {
    const set = rooms.get(name);
    if (set) for (const ws of set) sendFrame(ws, frame);
  };

  wss.on('connection', (ws) => {
    all.add(ws);
    ws.isAlive = true;
    join(ws, room);
    ws.on('pong', () => {
      ws.isAlive = true;
    });
    ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return ws.close(1007);
      }
      if (msg.e === 'echo' && msg.id != null) {
        served++;
        sendText(ws, JSON.stringify({ id: msg.id, d: msg.d }));
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      all.delete(ws);
      for (const name of ws.rooms ?? []) rooms.get(name)?.delete(ws);
    });
  });

  let hb;
  if (heartbeatMs) {
    hb = setInterval(() => {
      for (const ws of all) {
        if (!ws.isAlive) {
          ws.terminate();
          continue;
        }
        ws.isAlive = false;
        ws.ping();
      }
    }, heartbeatMs);
  }

  // Cross-node over Redis.
  let pub;
  let sub;
  const channel = `bench:room:${room}`;
  const origin = Buffer.from(`${nodeId ?? 'n'}|`);
  if (redisUrl) {
    const { Redis } = await import('ioredis');
    pub = new Redis(redisUrl, { enableAutoPipelining: true });
    sub = new Redis(redisUrl);
    await sub.subscribe(channel);
    sub.on('messageBuffer', (_ch, msg) => {
      if (msg.length >= origin.length && msg.compare(origin, 0, origin.length, 0, origin.length) === 0)
        return;
      const bar = msg.indexOf(124); // '|'
      broadcastLocal(
        room,
        Sender.frame(msg.subarray(bar + 1), {
          fin: true,
          rsv1: false,
          opcode: 1,
          mask: false,
          readOnly: true,
        }),
      );
    });
  }

  return {
    ready: () => rooms.get(room)?.size ?? 0,
    served: () => served,
    publish(data) {
      const text = JSON.stringify({ e: 'm', d: data });
      broadcastLocal(room, frameOf(text));
      if (pub) return pub.publish(channel, Buffer.concat([origin, Buffer.from(text)]));
    },
    // Backpressure: wait for sockets whose user-land write queue is above the high-water mark.
    backpressure() {
      const busy = [];
      const set = rooms.get(room);
      if (set) for (const ws of set) if (ws._socket.writableLength > HWM) busy.push(ws._socket);
      if (busy.length === 0) return null;
      return waitDrain(busy);
    },
    async close() {
      clearInterval(hb);
      for (const ws of all) ws.terminate();
      await new Promise((r) => wss.close(r));
      await Promise.allSettled([pub?.quit(), sub?.quit()]);
    },
  };
}
