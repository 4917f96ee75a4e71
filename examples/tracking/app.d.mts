// Types of app.mjs, for TypeScript callers such as the end-to-end tests.
import type { Server } from 'node:http';
import type { Bus, TetherServer } from '@tether/server';

export interface TrackingOptions {
  /** Default 3001; 0 picks a free port. */
  port?: number;
  /** Default: every interface. */
  host?: string;
  /** A bus you own (and close); default: from `redisUrl`, else an in-memory bus. */
  bus?: Bus;
  /** Use a RedisBus on this URL (ignored when `bus` is given). */
  redisUrl?: string;
  /** Names this node in the metrics. */
  nodeName?: string;
  /** How often each node publishes its metrics to the `metrics` room, in ms. Default 1000. */
  metricsEveryMs?: number;
}

export interface RunningExample {
  port: number;
  url: string;
  nodeName: string;
  tether: TetherServer;
  http: Server;
  /** Stops the metrics timer, closes Tether, the http server and (when it created it) the bus. */
  close(): Promise<void>;
}

export const STATUSES: readonly ['placed', 'picked-up', 'on-the-way', 'delivered'];
export function startTracking(options?: TrackingOptions): Promise<RunningExample>;
