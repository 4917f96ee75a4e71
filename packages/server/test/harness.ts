import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TetherClient, type TetherClientOptions } from '@tether/client';
import { type TetherError, TetherServer, type TetherServerOptions } from '../src/index.js';

/** A TetherServer on a fresh http server on a free loopback port, with clients that are all closed at the end. */
export interface TestNode {
  http: Server;
  tether: TetherServer;
  url: string;
  port: number;
  client(options?: TetherClientOptions): TetherClient;
  close(): Promise<void>;
}

export async function startNode(options: TetherServerOptions = {}, port = 0): Promise<TestNode> {
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('app');
  });
  const tether = new TetherServer({ server: http, ...options });
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
      const client = new TetherClient(url, {
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

/** Resolves when the client reaches the state (or rejects after a timeout). */
export function waitForState(
  client: TetherClient,
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

/** Polls until the predicate holds. */
export async function until(predicate: () => boolean, timeout = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<TetherError> {
  try {
    await promise;
  } catch (err) {
    return err as TetherError;
  }
  throw new Error('expected the promise to reject');
}
