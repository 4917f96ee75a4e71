import { createServer } from 'node:net';

/**
 * Asks the kernel for a TCP port that is free right now on `host`.
 *
 * The port is released before the promise resolves, so another process could take it in
 * between: callers that bind it later should be ready to retry (the Redis harness does).
 * Prefer listening on port 0 directly when the code under test allows it.
 *
 * @param host - the address to bind, `127.0.0.1` unless told otherwise.
 * @returns a port number in the kernel's ephemeral range.
 * @example
 * ```ts
 * const port = await freePort();
 * spawn('redis-server', ['--port', String(port)]);
 * ```
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    // `exclusive` keeps a cluster primary from handing us a shared handle.
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected address ${String(address)} for ${host}`));
        return;
      }
      server.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}
