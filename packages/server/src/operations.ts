import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, type Logger } from '@tether/protocol';
import type { Bus } from './bus.js';
import { pathnameOf, refuseRequest } from './http-endpoint.js';
import type { MetricsSnapshot } from './metrics.js';
import { OPERATIONS_HTML } from './operations-html.js';
import { type OperationsInbox, serveInboxRequest } from './operations-inbox.js';

/** Options of the operations page (server option `operations`; off without it). */
export interface OperationsOptions {
  /**
   * The app's own check, run for every request to the page and its stream: true (or a promise
   * of true) lets it through, anything else answers 403. Required: the page shows every node's
   * numbers and the busiest room names.
   */
  authorize: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** How often each node reports and the page updates, in ms. Default 2 000. */
  intervalMs?: number;
}

/** What one node reports to the page, every interval. */
export interface NodeReport {
  nodeId: string;
  /** When the report was made (ms since the epoch). */
  at: number;
  ready: boolean;
  bus: 'up' | 'down';
  closing: boolean;
  metrics: MetricsSnapshot;
  /** Per second since the node's previous report. */
  rates: {
    messagesIn: number;
    messagesOut: number;
    publishes: number;
    connectionsOpened: number;
    rateLimited: number;
  };
  /** The rooms with the most members on this node (at most 10). */
  rooms: Array<{ room: string; members: number }>;
  /**
   * The oldest dead letters of the inbox (at most 10, without their data), as this node last
   * read them: nodes share one inbox, so the page lists each id once.
   */
  deadLetters: Array<{ id: string; userId: string; event: string; attempts: number; deadAt: number }>;
}

/** What the page needs from the server. */
export interface OperationsContext {
  readonly nodeId: string;
  readonly path: string;
  readonly bus: Bus;
  readonly logger: Logger;
  /** The inbox, for a user's backlog and the redrive button (absent: those answer 404). */
  readonly inbox?: OperationsInbox;
  /** This node's numbers now. */
  snapshot(): Pick<NodeReport, 'ready' | 'bus' | 'closing' | 'metrics' | 'rooms' | 'deadLetters'>;
}

/**
 * Reports are kept where every node can read them: as presence entries of this bus room, one per
 * node, dropped with their node. The space makes it a name no client can join.
 */
const REPORTS_ROOM = 'tether operations';

/**
 * The operations page: `GET {path}/operations` (a small HTML page) and `GET
 * {path}/operations/events` (a plain EventSource stream: one `nodes` event per interval with the
 * reports of every node on the bus), `GET {path}/operations/inbox?user=KEY` (a user's pending
 * notifications) and `POST {path}/operations/redrive?id=ID` (see operations-inbox.ts). Each node writes its report to the bus every interval, so
 * any node shows the whole cluster. Every request passes the app's `authorize` first.
 *
 * @example
 * const page = new OperationsPage(context, { authorize: (req) => isAdmin(req) });
 * if (page.handle(req, res)) return; // its own path: answered
 */
export class OperationsPage {
  readonly #context: OperationsContext;
  readonly #options: Required<OperationsOptions>;
  readonly #streams = new Set<ServerResponse>();
  readonly #timer: ReturnType<typeof setInterval>;
  #previous: { at: number; metrics: MetricsSnapshot } | undefined;
  #closed = false;

  constructor(context: OperationsContext, options: OperationsOptions) {
    this.#context = context;
    this.#options = { intervalMs: 2_000, ...options };
    this.#timer = setInterval(() => void this.#tick(), this.#options.intervalMs);
    this.#timer.unref();
    void this.#report();
  }

  /** True when the request was for the page or its stream (and was answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const pathname = pathnameOf(req.url);
    const base = `${this.#context.path === '/' ? '' : this.#context.path}/operations`;
    const route =
      pathname === base
        ? 'page'
        : pathname === `${base}/events`
          ? 'events'
          : pathname === `${base}/inbox`
            ? 'inbox'
            : pathname === `${base}/redrive`
              ? 'redrive'
              : undefined;
    if (route === undefined) return false;
    void this.#serve(req, res, route).catch((err: unknown) => {
      this.#context.logger.error({ err }, 'operations page failed');
      refuseRequest(res, 500, ErrorCode.Internal, 'internal error');
    });
    return true;
  }

  /** Stops reporting, ends the open streams and removes this node's report. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const res of this.#streams) res.end();
    this.#streams.clear();
    await this.#context.bus.removeMember(REPORTS_ROOM, this.#context.nodeId).catch(() => {});
  }

  async #serve(
    req: IncomingMessage,
    res: ServerResponse,
    route: 'page' | 'events' | 'inbox' | 'redrive',
  ): Promise<void> {
    if (req.method !== 'GET' && route !== 'redrive')
      return refuseRequest(res, 405, 'METHOD_NOT_ALLOWED', 'use GET', { allow: 'GET' });
    let allowed = false;
    try {
      allowed = (await this.#options.authorize(req)) === true;
    } catch (err) {
      this.#context.logger.warn({ err }, 'operations authorize threw');
    }
    if (!allowed) {
      this.#context.logger.info({ address: req.socket.remoteAddress }, 'operations page refused');
      return refuseRequest(res, 403, ErrorCode.Forbidden, 'not allowed to see the operations page');
    }
    if (route === 'inbox' || route === 'redrive')
      return serveInboxRequest(this.#context.inbox, route, req, res);
    if (route === 'page') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
      });
      res.end(OPERATIONS_HTML);
      return;
    }
    if (this.#closed) return refuseRequest(res, 503, ErrorCode.ServerClosing, 'server is shutting down');
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${this.#options.intervalMs}\n\n`);
    this.#streams.add(res);
    res.on('close', () => this.#streams.delete(res));
    await this.#push([res]);
  }

  async #tick(): Promise<void> {
    await this.#report();
    if (this.#streams.size > 0) await this.#push([...this.#streams]);
  }

  /** Writes this node's report to the bus (a failure waits for the next tick: the page shows it stale). */
  async #report(): Promise<void> {
    const { nodeId, bus, logger } = this.#context;
    const now = Date.now();
    const current = this.#context.snapshot();
    const report: NodeReport = {
      nodeId,
      at: now,
      ...current,
      rates: rates(this.#previous, current.metrics, now),
    };
    this.#previous = { at: now, metrics: current.metrics };
    await bus
      .addMember(REPORTS_ROOM, nodeId, { connId: nodeId, data: report })
      .catch((err) => logger.debug({ err }, 'operations report not written'));
  }

  async #push(streams: ServerResponse[]): Promise<void> {
    let data: string;
    try {
      const members = await this.#context.bus.members(REPORTS_ROOM);
      data = JSON.stringify(members.map((m) => m.data).sort(byNode));
    } catch (err) {
      data = JSON.stringify({ error: (err as Error).message });
    }
    for (const res of streams) if (!res.writableEnded) res.write(`event: nodes\ndata: ${data}\n\n`);
  }
}

function rates(
  previous: { at: number; metrics: MetricsSnapshot } | undefined,
  m: MetricsSnapshot,
  now: number,
): NodeReport['rates'] {
  const seconds = previous ? Math.max(0.001, (now - previous.at) / 1_000) : 0;
  const per = (read: (s: MetricsSnapshot) => number) =>
    previous ? Math.round(((read(m) - read(previous.metrics)) / seconds) * 10) / 10 : 0;
  return {
    messagesIn: per((s) => s.messages.in),
    messagesOut: per((s) => s.messages.out),
    publishes: per((s) => s.publishes),
    connectionsOpened: per((s) => s.connectionsOpened),
    rateLimited: per((s) => s.messages.rateLimited),
  };
}

function byNode(a: unknown, b: unknown): number {
  return String((a as NodeReport).nodeId).localeCompare(String((b as NodeReport).nodeId));
}
