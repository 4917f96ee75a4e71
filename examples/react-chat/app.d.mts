// Types of app.mjs, for TypeScript callers such as the end-to-end tests.
import type { Server } from 'node:http';
import type { TetherServer } from '@tether/server';

export interface ReactChatOptions {
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Default: every interface. */
  host?: string;
  /** The built page to serve; default `dist/app/` beside app.mjs. */
  distDir?: string;
}

export interface RunningReactChat {
  port: number;
  url: string;
  tether: TetherServer;
  http: Server;
  /** Closes Tether and the http server. */
  close(): Promise<void>;
}

export function startReactChat(options?: ReactChatOptions): Promise<RunningReactChat>;
export function buildReactChat(options?: { mode?: 'production' | 'development' }): Promise<string>;
