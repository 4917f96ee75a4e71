// Tether client through its public API: new TetherClient(url, { transports, reconnect }),
// client.on(event), client.request(event, data), client.state / 'state' events, client.close().
// The public API has no way to pick the local (source) address, so Tether clients all connect
// from 127.0.0.1 (the harness caps connection counts accordingly).
let TetherClient;

export async function load() {
  ({ TetherClient } = await import('@tether/client'));
  if (typeof TetherClient !== 'function') throw new Error('@tether/client does not export TetherClient');
}

export const supportsLocalAddress = false;

export function connect({ host, port, onMessage, timeoutMs = 10000 }) {
  return new Promise((resolve, reject) => {
    // connectTimeout is not in API.md (tether-client.ts has it, default 5 s): the same handshake
    // allowance as the ws and Socket.IO clients get, so a connect storm on a busy machine is fair.
    const c = new TetherClient(`http://${host}:${port}/tether`, {
      transports: ['websocket'],
      reconnect: false,
      connectTimeout: timeoutMs,
    });
    c.on('m', onMessage);
    let lastError;
    c.on('error', (err) => {
      lastError = err; // reserved lifecycle event: only used to say why a connection failed
    });
    const handle = {
      request: (d) => c.request('echo', d),
      close: () => c.close(),
    };
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      c.close();
      reject(new Error(`not open after ${timeoutMs} ms (state ${c.state})`));
    }, timeoutMs);
    const onState = (state) => {
      if (settled) return;
      if (state === 'open') {
        settled = true;
        clearTimeout(timer);
        resolve(handle);
      } else if (state === 'closed') {
        settled = true;
        clearTimeout(timer);
        reject(
          new Error(
            `closed before open${lastError ? `: ${lastError.code ?? ''} ${lastError.message ?? lastError}` : ''}`,
          ),
        );
      }
    };
    c.on('state', onState);
    onState(c.state);
  });
}
