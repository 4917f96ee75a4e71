// Types of app.mjs, for TypeScript callers such as the end-to-end tests.
import type { Server } from 'node:http';
import type { Bus, TetherServer } from '@tether/server';

export interface ChatOptions {
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Default: every interface. */
  host?: string;
  /** A bus you own (and close); default: from `redisUrl`, else an in-memory bus. */
  bus?: Bus;
  /** Use a RedisBus on this URL (ignored when `bus` is given). */
  redisUrl?: string;
  /** Shown on the page; useful with several nodes. */
  nodeName?: string;
  /** How long "simulate a network drop" cuts a page off, in ms; default 3000. */
  networkDropMs?: number;
  /** The tracking demo's port on this host, for the links on the `/start` page. */
  trackingPort?: number;
}

export interface RunningExample {
  port: number;
  url: string;
  nodeName: string;
  tether: TetherServer;
  http: Server;
  /** Closes Tether, the http server and (when it created it) the bus. */
  close(): Promise<void>;
}

export function startChat(options?: ChatOptions): Promise<RunningExample>;
export function createBus(redisUrl?: string): Promise<Bus>;
export function browserClientDir(): string;
