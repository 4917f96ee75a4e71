import { ErrorCode, type ErrorReplyMessage, type ReplyMessage, TetherError } from '@tether/protocol';
import type { ConnectionEngine } from './connection-engine.js';
import type { Metrics } from './metrics.js';
import type { RequestOptions } from './send-options.js';

/** What `undelivered` carries: the message, whom it was for, and why it was given up. */
export interface UndeliveredMessage {
  event: string;
  data: unknown;
  sessionId: string;
  connId: string;
  attempts: number;
  /**
   * `online-elsewhere`: no attempt got an ack, the session has no connection on this node, and
   * its user has a connection on another node (the client most likely moved there; a push does not
   * follow it). `timeout`: no ack and no sign of the user elsewhere.
   */
  reason: 'timeout' | 'online-elsewhere' | 'session-closed' | 'server-closing';
}

type AnyConnection = ConnectionEngine;

interface Pending {
  id: string;
  event: string;
  data: unknown;
  sessionId: string;
  connId: string;
  attempts: number;
  attemptsLeft: number;
  timeoutMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the request's user is connected on another node (asked only when giving up). */
  elsewhere: (() => Promise<boolean>) | undefined;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * Server-to-client requests with acks: one id for every attempt, retried on the session's
 * current connection (a reconnect to this node picks them up), given up after the last attempt
 * with an `undelivered` report (the dead-letter hook).
 *
 * @example
 * const reply = await outgoing.request(conn, 'confirm', data, { timeout: 5000, retries: 3 });
 */
export class OutgoingRequests {
  readonly #pending = new Map<string, Pending>();
  readonly #prefix: string;
  readonly #current: (sessionId: string) => AnyConnection | undefined;
  readonly #onUndelivered: (message: UndeliveredMessage) => void;
  readonly #metrics: Metrics;
  readonly #elsewhereOf: ((conn: AnyConnection) => (() => Promise<boolean>) | undefined) | undefined;
  #counter = 0;

  constructor(init: {
    nodeId: string;
    currentConnection: (sessionId: string) => AnyConnection | undefined;
    onUndelivered: (message: UndeliveredMessage) => void;
    metrics: Metrics;
    /** For a connection, how to ask later whether its user is connected on another node. */
    elsewhereOf?: (conn: AnyConnection) => (() => Promise<boolean>) | undefined;
  }) {
    this.#prefix = `${init.nodeId}.`;
    this.#current = init.currentConnection;
    this.#onUndelivered = init.onUndelivered;
    this.#metrics = init.metrics;
    this.#elsewhereOf = init.elsewhereOf;
  }

  request(conn: AnyConnection, event: string, data: unknown, options: RequestOptions): Promise<unknown> {
    const retries = Math.max(0, Math.floor(options.retries ?? 0));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id: this.#prefix + (++this.#counter).toString(36),
        event,
        data,
        sessionId: conn.sessionId,
        connId: conn.id,
        attempts: 0,
        attemptsLeft: retries + 1,
        timeoutMs: options.timeout ?? 5_000,
        timer: undefined,
        elsewhere: this.#elsewhereOf?.(conn),
        resolve,
        reject,
      };
      this.#pending.set(pending.id, pending);
      this.#attempt(pending);
    });
  }

  /**
   * True when the reply names one of this node's requests; it settles it only when it came from
   * the request's session (ids are guessable, so a reply from any other session is dropped).
   */
  settle(message: ReplyMessage | ErrorReplyMessage, sessionId: string): boolean {
    const pending = this.#pending.get(message.id);
    if (!pending) return message.id.startsWith(this.#prefix);
    if (pending.sessionId !== sessionId) {
      this.#metrics.rejected++;
      return true;
    }
    this.#finish(pending);
    if (message.t === 'res') pending.resolve(message.d);
    else pending.reject(new TetherError(message.c, message.m));
    return true;
  }

  /** A session ended for good (the client closed): its requests cannot be delivered. */
  sessionEnded(sessionId: string): void {
    for (const pending of this.#pending.values()) {
      if (pending.sessionId === sessionId) this.#giveUp(pending, 'session-closed');
    }
  }

  /** A connection of the session came (back): send what is waiting now instead of at the next retry. */
  sessionResumed(sessionId: string): void {
    for (const pending of this.#pending.values()) {
      if (pending.sessionId === sessionId && pending.attempts > 0) this.#send(pending);
    }
  }

  closeAll(): void {
    for (const pending of this.#pending.values()) this.#giveUp(pending, 'server-closing');
  }

  get size(): number {
    return this.#pending.size;
  }

  #attempt(pending: Pending): void {
    if (pending.attemptsLeft === 0) {
      const { elsewhere } = pending;
      if (!elsewhere || this.#current(pending.sessionId)) {
        this.#giveUp(pending, 'timeout');
        return;
      }
      // Still pending while the bus is asked: an ack arriving meanwhile settles it instead.
      pending.timer = undefined;
      elsewhere().then(
        (yes) => this.#pending.has(pending.id) && this.#giveUp(pending, yes ? 'online-elsewhere' : 'timeout'),
        () => this.#pending.has(pending.id) && this.#giveUp(pending, 'timeout'),
      );
      return;
    }
    pending.attemptsLeft--;
    if (pending.attempts > 0) this.#metrics.retries++;
    pending.attempts++;
    this.#send(pending);
    pending.timer = setTimeout(() => this.#attempt(pending), pending.timeoutMs);
  }

  #send(pending: Pending): void {
    const conn = this.#current(pending.sessionId);
    if (conn) conn.send({ t: 'req', id: pending.id, e: pending.event, d: pending.data }, false);
  }

  #finish(pending: Pending): void {
    clearTimeout(pending.timer);
    this.#pending.delete(pending.id);
  }

  #giveUp(pending: Pending, reason: UndeliveredMessage['reason']): void {
    this.#finish(pending);
    this.#metrics.undelivered++;
    const code =
      reason === 'timeout' || reason === 'online-elsewhere'
        ? ErrorCode.Timeout
        : reason === 'server-closing'
          ? ErrorCode.ServerClosing
          : ErrorCode.Closed;
    pending.reject(
      new TetherError(
        code,
        `"${pending.event}" was not acknowledged (${reason}, ${pending.attempts} attempt(s))`,
      ),
    );
    this.#onUndelivered({
      event: pending.event,
      data: pending.data,
      sessionId: pending.sessionId,
      connId: pending.connId,
      attempts: pending.attempts,
      reason,
    });
  }
}
