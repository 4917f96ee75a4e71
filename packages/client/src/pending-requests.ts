import {
  type Codec,
  ErrorCode,
  type Frame,
  MAX_ACKS,
  type RequestMessage,
  TetherError,
} from '@tether/protocol';
import { nanoid } from 'nanoid';
import { exceeds, tooLargeError } from './encoding.js';

/** Options of `client.request`. */
export interface ClientRequestOptions {
  /** Time to wait for the reply per attempt, in ms. Default: the client's `requestTimeout` (10 000). */
  timeout?: number;
  /** Extra attempts after the first, with the same id (the server runs the handler once). Default 0. */
  retries?: number;
}

interface Pending {
  frame: Frame;
  /** The request as first sent: its resend (without `ak`) is encoded from it on first need. */
  message: RequestMessage;
  codec: Codec;
  /** The same request marked as a resend (`rt: 1`), made on first need. */
  resend: Frame | undefined;
  event: string;
  attemptsLeft: number;
  attempts: number;
  timeoutMs: number;
  /** When the current attempt times out (ms since the epoch). */
  deadline: number;
  send: (frame: Frame) => void;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

function resendFrame(pending: Pending): Frame {
  // Made on first need: a request that is answered at once (nearly all) never pays for it.
  if (pending.resend === undefined) {
    const { ak: _acked, ...message } = pending.message;
    pending.resend = pending.codec.encode({ ...message, rt: 1 });
  }
  return pending.resend;
}

/**
 * A request message, with the ids of replies to acknowledge (`ak`) and the caller's trace context when the app gave a `traceContext` hook
 * (and it returned one).
 *
 * @example
 * codec.encode(requestMessage(id, 'chat:send', { text: 'hi' }, undefined, undefined));
 */
export function requestMessage(
  id: string,
  event: string,
  data: unknown,
  tc: Record<string, string> | undefined,
  ak: string[] | undefined,
): RequestMessage {
  if (tc) return ak ? { t: 'req', id, e: event, d: data, tc, ak } : { t: 'req', id, e: event, d: data, tc };
  return ak ? { t: 'req', id, e: event, d: data, ak } : { t: 'req', id, e: event, d: data };
}

/**
 * Client-to-server requests waiting for replies. Each keeps one id (inside its frame) for
 * every attempt and every reconnect; a timeout spends one attempt; a reconnect resends at once
 * without spending one. One timer serves them all, armed for the earliest deadline: a request
 * costs no timer of its own to set and clear.
 *
 * @example
 * const reply = pending.start(codec, maxPayload, 'chat:send', data, undefined, { timeout: 5000, retries: 2 }, send);
 */
export class PendingRequests {
  readonly #pending = new Map<string, Pending>();
  /** Ids whose replies came since the last request went out: the next one tells the server. */
  #answered: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When `#timer` fires; Infinity when none is armed. */
  #timerAt = Number.POSITIVE_INFINITY;

  /**
   * Encodes a new request (with the ids of replies got since the last one, `ak`) and adds it;
   * one larger than the server's `maxPayload` is refused here and never sent.
   */
  start(
    codec: Codec,
    maxPayload: number,
    event: string,
    data: unknown,
    tc: Record<string, string> | undefined,
    options: Required<ClientRequestOptions>,
    send: (frame: Frame) => void,
  ): Promise<unknown> {
    const id = nanoid();
    const answered = this.takeAnswered();
    // `ak` goes in the literal (one object per request, not a copy made by a spread); a resend
    // leaves it out.
    const message = requestMessage(id, event, data, tc, answered);
    const frame = codec.encode(message);
    if (exceeds(frame, maxPayload)) return Promise.reject(tooLargeError(event, maxPayload));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        frame,
        message,
        codec,
        resend: undefined,
        event,
        attemptsLeft: Math.max(0, Math.floor(options.retries)),
        attempts: 1,
        timeoutMs: options.timeout,
        deadline: Date.now() + options.timeout,
        send,
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      send(frame);
      this.#armFor(pending.deadline);
    });
  }

  /** Settles a request from its reply; false when no such request is waiting. */
  settle(
    id: string,
    outcome: { ok: true; data: unknown } | { ok: false; code: string; message: string },
  ): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    // Beyond the cap the oldest go untold: the server lets those outcomes expire instead.
    if (this.#answered.push(id) > MAX_ACKS) this.#answered.shift();
    if (outcome.ok) pending.resolve(outcome.data);
    else pending.reject(new TetherError(outcome.code, outcome.message));
    return true;
  }

  /** The ids to acknowledge on the next request (`ak`), once. */
  takeAnswered(): string[] | undefined {
    if (this.#answered.length === 0) return undefined;
    const answered = this.#answered;
    this.#answered = [];
    return answered;
  }

  /** Sends every waiting request again (after a reconnect). */
  resendAll(send: (frame: Frame) => void): void {
    for (const pending of this.#pending.values()) send(resendFrame(pending));
  }

  rejectAll(err: TetherError): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const request of pending) request.reject(err);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Makes sure the timer fires no later than `deadline`. */
  #armFor(deadline: number): void {
    if (deadline >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = deadline;
    // Left armed when the last request settles (firing finds nothing): arming once instead of
    // per request is the point; `rejectAll` on close clears it.
    this.#timer = setTimeout(this.#expire, Math.max(0, deadline - Date.now()));
  }

  /** Spends an attempt of every request past its deadline, then arms for the next deadline. */
  readonly #expire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) {
        next = Math.min(next, pending.deadline);
        continue;
      }
      if (pending.attemptsLeft > 0) {
        pending.attemptsLeft--;
        pending.attempts++;
        pending.deadline = now + pending.timeoutMs;
        next = Math.min(next, pending.deadline);
        pending.send(resendFrame(pending));
        continue;
      }
      this.#pending.delete(id);
      pending.reject(
        new TetherError(
          ErrorCode.Timeout,
          `"${pending.event}" got no reply after ${pending.attempts} attempt(s) of ${pending.timeoutMs} ms`,
        ),
      );
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armFor(next);
  };
}
