// Types of deployment.mjs, for TypeScript callers such as packages/redis-bus/test/nginx.test.ts.
import type { ChildProcess } from 'node:child_process';

export interface DeploymentOptions {
  /** Number of Tether nodes. Default 3. */
  nodes?: number;
  /** nginx's port on 127.0.0.1. Default: a free one. */
  port?: number;
  /** Redis to use. Default `$REDIS_URL`; without it a redis-server of its own. */
  redisUrl?: string;
  /** Receives the output lines of the nodes, nginx and Redis, prefixed with their name. */
  log?: (line: string) => void;
}

export interface DeployedNode {
  /** `node-1`, `node-2`, ...: what the chat example reports in its `hello` event and /healthz. */
  name: string;
  port: number;
  pid: number | undefined;
  child: ChildProcess;
  /** Sends a signal to the node's process (default SIGKILL: a crash). */
  kill(signal?: NodeJS.Signals): boolean;
}

export interface Deployment {
  /** nginx's address, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The Tether endpoint behind nginx (`url + '/tether'`). */
  tetherUrl: string;
  redisUrl: string;
  port: number;
  /** Temporary folder holding nginx.conf, its logs and (when started here) Redis's files. */
  dir: string;
  nodes: DeployedNode[];
  /** Stops the nodes (gracefully), nginx and the Redis it started; removes the folder. */
  stop(): Promise<void>;
}

export function findNginx(): string | undefined;
export function freePort(): Promise<number>;
export function nginxConfig(options: {
  port: number;
  upstreams: number[];
  dir: string;
  workers?: number | 'auto';
}): string;
export function startDeployment(options?: DeploymentOptions): Promise<Deployment>;
