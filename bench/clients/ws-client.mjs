// Raw ws client for the hand-written protocol of servers/ws-server.mjs:
//   server -> client  {"e":"m","d":...}          room message
//   client -> server  {"id":n,"e":"echo","d":...} request; reply {"id":n,"d":...}
import { WebSocket } from 'ws';

export async function load() {}

export function connect({ host, port, localAddress, onMessage, timeoutMs = 10000 }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}:${port}/`, {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    let nextId = 1;
    const pending = new Map();
    ws.on('message', (data) => {
      const msg = JSON.parse(data);
      if (msg.id != null) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        p?.(msg.d);
      } else if (msg.e === 'm') onMessage(msg.d);
    });
    ws.on('error', (err) => reject(err));
    ws.once('close', () => reject(new Error('closed before open')));
    ws.once('open', () =>
      resolve({
        request(d) {
          const id = nextId++;
          return new Promise((r) => {
            pending.set(id, r);
            ws.send(JSON.stringify({ id, e: 'echo', d }));
          });
        },
        close() {
          ws.terminate();
        },
      }),
    );
  });
}
