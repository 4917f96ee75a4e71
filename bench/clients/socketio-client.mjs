// socket.io-client 4, websocket transport only, one Manager (connection) per client.
let io;

export async function load() {
  ({ io } = await import('socket.io-client'));
}

export function connect({ host, port, localAddress, onMessage, timeoutMs = 10000 }) {
  return new Promise((resolve, reject) => {
    const s = io(`http://${host}:${port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      perMessageDeflate: false,
      localAddress,
    });
    s.on('m', onMessage);
    s.once('connect_error', (err) => {
      s.close();
      reject(err);
    });
    s.once('connect', () =>
      resolve({
        request(d) {
          return new Promise((r) => s.emit('echo', d, r));
        },
        close() {
          s.close();
        },
      }),
    );
  });
}
