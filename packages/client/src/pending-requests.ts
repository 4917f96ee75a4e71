import { type Codec, ErrorCode, type Frame, MAX_ACKS, TetherError } from '@tether/protocol';
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
  /** The same request marked as a resend (`rt: 1`), made on first need. */
  resend: (() => Frame) | Frame;
  event: string;
  attemptsLeft: number;
  attempts: number;
  timeoutMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

function resendFrame(pending: Pending): Frame {
  if (typeof pending.resend === 'function') pending.resend = pending.resend();
  return pending.resend;
}

/**
 * Client-to-server requests waiting for replies. Each keeps one id (inside its frame) for
 * every attempt and every reconnect; a timeout spends one attempt; a reconnect resends at once
 * without spending one.
 *
 * @example
 * const reply = pending.add(id, frame, 'chat:send', { timeout: 5000, retries: 2 }, send);
 */
export class PendingRequests {
  readonly #pending = new Map<string, Pending>();
  /** Ids whose replies came since the last request went out: the next one tells the server. */
  #answered: string[] = [];

  /**
   * Encodes a new request (with the ids of replies got since the last one, `ak`) and adds it;
   * one larger than the server's `maxPayload` is refused here and never sent.
   */
  start(
    codec: Codec,
    maxPayload: number,
    event: string,
    data: unknown,
    options: Required<ClientRequestOptions>,
    send: (frame: Frame) => void,
  ): Promise<unknown> {
    const id = nanoid();
    const answered = this.takeAnswered();
    const frame = codec.encode(
      answered ? { t: 'req', id, e: event, d: data, ak: answered } : { t: 'req', id, e: event, d: data },
    );
    if (exceeds(frame, maxPayload)) return Promise.reject(tooLargeError(event, maxPayload));
    const resend = () => codec.encode({ t: 'req', id, e: event, d: data, rt: 1 });
    return this.add(id, frame, resend, event, options, send);
  }

  add(
    id: string,
    frame: Frame,
    resend: () => Frame,
    event: string,
    options: Required<ClientRequestOptions>,
    send: (frame: Frame) => void,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        frame,
        resend,
        event,
        attemptsLeft: Math.max(0, Math.floor(options.retries)),
        attempts: 1,
        timeoutMs: options.timeout,
        timer: undefined,
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      send(frame);
      this.#arm(id, pending, send);
    });
  }

  /** Settles a request from its reply; false when no such request is waiting. */
  settle(
    id: string,
    outcome: { ok: true; data: unknown } | { ok: false; code: string; message: string },
  ): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    clearTimeout(pending.timer);
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
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.#pending.clear();
  }

  get size(): number {
    return this.#pending.size;
  }

  #arm(id: string, pending: Pending, send: (frame: Frame) => void): void {
    pending.timer = setTimeout(() => {
      if (pending.attemptsLeft > 0) {
        pending.attemptsLeft--;
        pending.attempts++;
        send(resendFrame(pending));
        this.#arm(id, pending, send);
        return;
      }
      this.#pending.delete(id);
      pending.reject(
        new TetherError(
          ErrorCode.Timeout,
          `"${pending.event}" got no reply after ${pending.attempts} attempt(s) of ${pending.timeoutMs} ms`,
        ),
      );
    }, pending.timeoutMs);
  }
}
