// Socket.IO 4 with the websocket transport only (no long-polling), default parser.
// Cross-node: @socket.io/redis-adapter on ioredis.
import { waitDrain } from '../lib/util.mjs';

const HWM_PACKETS = 64; // engine.io packets queued on a connection above which the broadcaster waits
const HWM_BYTES = 64 * 1024;
let Server;

export async function load() {
  ({ Server } = await import('socket.io'));
}

export async function create({ httpServer, room, heartbeatMs, redisUrl }) {
  const opts = {
    transports: ['websocket'],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
  };
  if (heartbeatMs)
    Object.assign(opts, { pingInterval: heartbeatMs, pingTimeout: Math.max(heartbeatMs, 20000) });
  const io = new Server(httpServer, opts);
  let pub;
  let sub;
  if (redisUrl) {
    const { Redis } = await import('ioredis');
    const { createAdapter } = await import('@socket.io/redis-adapter');
    pub = new Redis(redisUrl);
    sub = pub.duplicate();
    io.adapter(createAdapter(pub, sub));
    // The adapter subscribes asynchronously; a PING on the same connection answers after them.
    await sub.ping().catch(() => new Promise((r) => setTimeout(r, 300)));
  }
  let ready = 0;
  let served = 0;
  io.on('connection', (socket) => {
    socket.join(room);
    ready++;
    socket.on('echo', (data, ack) => {
      served++;
      if (typeof ack === 'function') ack(data);
    });
    socket.on('disconnect', () => {
      ready--;
    });
  });
  const sockets = io.of('/').sockets;

  return {
    ready: () => ready,
    served: () => served,
    publish(data) {
      io.to(room).emit('m', data);
    },
    // Backpressure as a Socket.IO user can see it: engine.io's per-connection writeBuffer
    // (packets waiting while the transport is busy) and its 'drain' event; plus the TCP socket.
    backpressure() {
      const busy = [];
      for (const s of sockets.values()) {
        const conn = s.conn;
        if (conn.writeBuffer.length > HWM_PACKETS) busy.push(conn);
        else {
          const tcp = conn.transport?.socket?._socket;
          if (tcp && tcp.writableLength > HWM_BYTES) busy.push(tcp);
        }
      }
      return busy.length ? waitDrain(busy) : null;
    },
    async close() {
      io.disconnectSockets(true);
      await new Promise((r) => io.close(() => r()));
      await Promise.allSettled([pub?.quit(), sub?.quit()]);
    },
  };
}
