import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TetherClient, TetherClientOptions } from '@tether/client';
import type { CloseCode, TetherError, TetherServer, TetherServerOptions } from '@tether/server';
import { waitFor } from './wait.js';

/**
 * The classes a suite runs against. Passed in rather than imported so this package depends on
 * none of the packages it tests (they depend on it): only their types are used here.
 *
 * @example
 * ```ts
 * import { TetherClient } from '@tether/client';
 * import { CloseCode, TetherError, TetherServer } from '@tether/server';
 * const kit: TetherKit = { TetherServer, TetherClient, TetherError, CloseCode };
 * ```
 */
export interface TetherKit {
  TetherServer: typeof TetherServer;
  TetherClient: typeof TetherClient;
  TetherError: typeof TetherError;
  CloseCode: typeof CloseCode;
}

/**
 * A TetherServer on a fresh http server on a free loopback port, with clients that are all closed
 * by {@link TestNode.close}.
 *
 * @example
 * ```ts
 * const node = await startTestNode(kit, { authorizeJoin: () => true });
 * const client = node.client();
 * await node.close();
 * ```
 */
export interface TestNode {
  http: Server;
  tether: TetherServer;
  url: string;
  port: number;
  /** A client of this node (reconnecting quickly), closed with the node. */
  client(options?: TetherClientOptions): TetherClient;
  close(): Promise<void>;
}

/**
 * Starts a {@link TestNode} on `port` (0: any free port).
 *
 * @example
 * ```ts
 * const node = await startTestNode(kit, { heartbeat: { intervalMs: 40, timeoutMs: 200 } });
 * ```
 */
export async function startTestNode(
  kit: Pick<TetherKit, 'TetherServer' | 'TetherClient'>,
  options: TetherServerOptions = {},
  port = 0,
): Promise<TestNode> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('app');
  });
  const tether = new kit.TetherServer({ server: http, ...options });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const actualPort = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${actualPort}/tether`;
  const clients: TetherClient[] = [];
  return {
    http,
    tether,
    url,
    port: actualPort,
    client(clientOptions = {}) {
      const client = new kit.TetherClient(url, {
        reconnect: { initialDelay: 50, maxDelay: 200 },
        ...clientOptions,
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.close();
      await tether.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/**
 * Resolves when the client reaches `state` (at once if it is there already), rejects after `timeout`.
 *
 * @example
 * ```ts
 * await waitForState(client, 'open');
 * ```
 */
export function waitForState(
  client: Pick<TetherClient, 'state' | 'on'>,
  state: TetherClient['state'],
  timeout = 5_000,
): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`client did not reach "${state}" within ${timeout} ms (now "${client.state}")`));
    }, timeout);
    const off = client.on('state', (s) => {
      if (s !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/**
 * Polls until `predicate` holds; `what` names the condition in the timeout error.
 *
 * @example
 * ```ts
 * await until(() => got.length === 2, 3_000, 'both messages');
 * ```
 */
export async function until(predicate: () => boolean, timeout = 5_000, what = 'condition'): Promise<void> {
  await waitFor(predicate, { timeout, interval: 5, message: `timed out waiting for ${what}` });
}
