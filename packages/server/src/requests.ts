import {
  ErrorCode,
  type ErrorReplyMessage,
  isReservedEvent,
  type Logger,
  NOTIFICATION_ACK,
  type ReplyMessage,
  type RequestMessage,
  TetherError,
} from '@tether/protocol';
import { tracer } from '@tether/protocol/trace';
import type { Bus } from './bus.js';
import { busOutcomeStore } from './bus-outcome-store.js';
import type { ConnectionEngine } from './connection-engine.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Handler } from './handler-table.js';
import { type Instrumentation, traceCarrier } from './instrumentation.js';
import type { Metrics } from './metrics.js';
import type { NodeMessages } from './node-messages.js';
import type { Outcome } from './outcome-store.js';
import { OutgoingRequests, type UndeliveredMessage } from './outgoing-requests.js';
import { RequestDedup } from './request-dedup.js';
import type { RequestOptions } from './send-options.js';
import { errorReply, reply } from './server-messages.js';

const requestTrace = tracer('tether:server:request');

/** The built-in request behind `room.presence()` on the client. */
const PRESENCE_REQUEST = 'tether:presence';

/** What the requests part needs from the server. */
export interface RequestsContext {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly dedupWindowMs: number;
  readonly counters: Metrics;
  readonly logger: Logger;
  readonly registry: ConnectionRegistry;
  readonly nodeMessages: NodeMessages;
  /** Timing observers of request handling (metrics exporters), in ms. */
  readonly observers: Array<(ms: number) => void>;
  /** Span hooks (tracers); `request` wraps a handler run. */
  readonly instrumentation: Instrumentation;
  onUndelivered(message: UndeliveredMessage): void;
  /** A client's `tether:ack` (durable notifications its listeners handled): the users part answers it. */
  acknowledge(engine: ConnectionEngine, message: RequestMessage): void;
  /** For a connection, how to ask later whether its user is connected on another node. */
  elsewhereOf?(engine: ConnectionEngine): (() => Promise<boolean>) | undefined;
  closing(): boolean;
}

/**
 * Requests both ways. Inbound: a client request runs its connection's first handler once per
 * id (dedup across retries and nodes) and the outcome goes to the session's current connection.
 * Outbound: `conn.request` with acks and retries across reconnects. `drain` waits for the inbound
 * requests under way.
 *
 * @example
 * const requests = new Requests(context);
 * requests.handle(engine, message); // a client's `req`
 * await requests.drain(5_000);       // on shutdown
 */
export class Requests {
  readonly #context: RequestsContext;
  readonly #dedup: RequestDedup;
  readonly #outgoing: OutgoingRequests;
  /** Handlers that have not answered yet: what a graceful shutdown waits for. */
  readonly #running = new Set<Promise<void>>();
  /** How many of them each connection asked for: a draining node closes a connection once it has none. */
  readonly #runningFor = new Map<ConnectionEngine, number>();

  constructor(context: RequestsContext) {
    this.#context = context;
    const { bus, registry } = context;
    this.#dedup = new RequestDedup(bus.outcomes ?? busOutcomeStore(bus), {
      windowMs: context.dedupWindowMs,
      logger: context.logger,
    });
    this.#outgoing = new OutgoingRequests({
      nodeId: context.nodeId,
      currentConnection: (sessionId) => registry.current(sessionId),
      onUndelivered: (message) => context.onUndelivered(message),
      metrics: context.counters,
      elsewhereOf: context.elsewhereOf,
    });
    context.nodeMessages.register('reply', (payload) =>
      this.#outgoing.settle(payload.message as ReplyMessage, String(payload.sessionId)),
    );
  }

  /** A client's request. Nothing a client sends may become an unhandled rejection. */
  handle(engine: ConnectionEngine, message: RequestMessage): void {
    try {
      this.#run(engine, message);
    } catch (err) {
      this.#context.logger.error({ err }, 'request failed');
    }
  }

  /**
   * A client's reply to a server request; one for another node's request is sent home. Only a
   * connection of the request's own session settles it: request ids are not secrets.
   */
  reply(sessionId: string, message: ReplyMessage | ErrorReplyMessage): void {
    if (this.#outgoing.settle(message, sessionId)) return;
    // A reply to another node's request (the client reconnected here): send it home.
    const { nodeId, bus, logger } = this.#context;
    const origin = message.id.slice(0, message.id.lastIndexOf('.'));
    if (origin && origin !== nodeId) {
      bus
        .sendToNode(origin, { kind: 'reply', message, sessionId })
        .catch((err) => logger.debug({ err }, 'reply not forwarded'));
    }
  }

  /** `conn.request`: waits across the session's reconnects; refused once the session has ended. */
  requestClient(
    engine: ConnectionEngine,
    event: string,
    data: unknown,
    options: RequestOptions,
  ): Promise<unknown> {
    // A dropped connection's session may come back (here): the request waits for it and retries.
    // A deliberate close ends the session, so nothing could ever ack.
    if (engine.closed && (engine.endedByClient || this.#context.closing())) {
      return Promise.reject(new TetherError(ErrorCode.Closed, 'the session has ended'));
    }
    return this.#outgoing.request(engine, event, data, options);
  }

  sessionResumed(sessionId: string): void {
    this.#outgoing.sessionResumed(sessionId);
  }

  /** A deliberate close ends the session: its pending acks can no longer be delivered. */
  sessionEnded(sessionId: string): void {
    this.#outgoing.sessionEnded(sessionId);
  }

  /** Waits until every handler under way has answered, or `ms` have passed. */
  async drain(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.#running.size > 0) {
      const left = until - Date.now();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
      });
      await Promise.race([Promise.allSettled([...this.#running]), timeout]);
      clearTimeout(timer);
    }
  }

  /** True while a handler this connection asked for has not answered. */
  busy(engine: ConnectionEngine): boolean {
    return this.#runningFor.has(engine);
  }

  /** Rejects every server request still waiting for an ack. */
  close(): void {
    this.#outgoing.closeAll();
  }

  #run(engine: ConnectionEngine, message: RequestMessage): void {
    const { counters } = this.#context;
    if (requestTrace.on)
      requestTrace('%s: request %s "%s"%s', engine.id, message.id, message.e, message.rt ? ' (resent)' : '');
    if (message.ak) this.#dedup.release(engine.sessionId, message.ak);
    if (message.e === NOTIFICATION_ACK) {
      this.#context.acknowledge(engine, message);
      return;
    }
    if (message.e === PRESENCE_REQUEST) {
      this.#presenceOf(engine, message.d)
        .then((outcome) => this.#answer(engine, message.id, outcome))
        .catch((err) => this.#context.logger.error({ err }, 'request failed'));
      return;
    }
    if (isReservedEvent(message.e)) {
      counters.rejected++;
      this.#answer(engine, message.id, {
        ok: false,
        code: ErrorCode.ReservedEvent,
        message: `"${message.e}" is a reserved event name`,
      });
      return;
    }
    const handler = engine.firstHandler(message.e);
    if (!handler) {
      this.#answer(engine, message.id, {
        ok: false,
        code: ErrorCode.NoHandler,
        message: `no handler for "${message.e}"`,
      });
      return;
    }
    const started = this.#context.observers.length > 0 ? performance.now() : 0;
    const dedup = this.#dedup;
    // The usual request (a first send, no tracer, no other run under way here) runs its handler
    // directly: what `dedup.run` would do, without the closures it takes.
    const outcome =
      message.rt !== 1 && this.#context.instrumentation.request === undefined && !dedup.busy
        ? dedup.first(
            engine.sessionId,
            message.id,
            runHandler(handler, message.d, this.#failed, engine, message.e),
          )
        : dedup.run(
            engine.sessionId,
            message.id,
            this.#instrumented(engine, message, () =>
              runHandler(handler, message.d, this.#failed, engine, message.e),
            ),
            this.#countDedupHit,
            message.rt === 1,
          );
    if (!(outcome instanceof Promise)) {
      this.#finish(engine, message.id, outcome, started);
      return;
    }
    const running = outcome
      .then((settled) => this.#finish(engine, message.id, settled, started))
      .catch((err) => this.#context.logger.error({ err }, 'request failed'))
      .finally(() => {
        this.#running.delete(running);
        const left = this.#runningFor.get(engine)! - 1;
        if (left > 0) this.#runningFor.set(engine, left);
        else this.#runningFor.delete(engine);
      });
    this.#running.add(running);
    this.#runningFor.set(engine, (this.#runningFor.get(engine) ?? 0) + 1);
  }

  /** The handler run, inside the tracer's request span when one is set. */
  #instrumented(
    engine: ConnectionEngine,
    message: RequestMessage,
    run: () => Outcome | Promise<Outcome>,
  ): () => Outcome | Promise<Outcome> {
    const around = this.#context.instrumentation.request;
    if (!around) return run;
    const info = {
      event: message.e,
      requestId: message.id,
      connId: engine.id,
      transport: engine.transportKind,
      traceContext: traceCarrier(message.tc),
    };
    return () => around(info, run);
  }

  /** A handler threw: a `TetherError` is the app's answer; anything else is a fault worth a log line. */
  readonly #failed: HandlerFailed = (engine, event, err) => {
    if (err instanceof TetherError) {
      if (requestTrace.on) requestTrace('%s: "%s" answered %s', engine.id, event, err.code);
      return;
    }
    this.#context.logger.warn({ err, event, connId: engine.id }, 'request handler failed');
    if (requestTrace.on) requestTrace('%s: "%s" handler threw %o', engine.id, event, err);
  };

  readonly #countDedupHit = () => {
    this.#context.counters.dedupHits++;
  };

  #finish(engine: ConnectionEngine, id: string, outcome: Outcome, started: number): void {
    this.#context.counters.requestsHandled++;
    for (const observe of this.#context.observers) observe(performance.now() - started);
    this.#answer(engine, id, outcome);
  }

  /** The reply goes to the session's current connection: the client may have reconnected meanwhile. */
  #answer(engine: ConnectionEngine, id: string, outcome: Outcome): void {
    const target = this.#context.registry.current(engine.sessionId) ?? engine;
    if (!outcome.ok) {
      target.send(errorReply(id, outcome.code, outcome.message), false);
      return;
    }
    try {
      target.send(reply(id, outcome.data), false);
    } catch (err) {
      // A reply the codec cannot carry (a BigInt or a cycle for JSON): an error now, not a timeout later.
      this.#context.logger.error({ err, id }, 'a request handler returned a reply that cannot be encoded');
      target.send(errorReply(id, ErrorCode.Internal, 'the reply could not be encoded'), false);
    }
  }

  /** The answer to `tether:presence`: the room's members, for members of the room only. */
  async #presenceOf(engine: ConnectionEngine, data: unknown): Promise<Outcome> {
    const room = (data as { room?: unknown } | undefined)?.room;
    if (typeof room !== 'string' || !engine.isMember(room)) {
      return { ok: false, code: ErrorCode.JoinRefused, message: 'presence is visible to room members only' };
    }
    try {
      return { ok: true, data: await this.#context.bus.members(room) };
    } catch (err) {
      return { ok: false, code: ErrorCode.BusUnavailable, message: (err as Error).message };
    }
  }
}

/** What the client sees of a handler's throw that is not a `TetherError`. */
const GENERIC_HANDLER_ERROR = 'the handler failed';

/** Told about a handler's throw or rejection (one function per server, not a closure per request). */
type HandlerFailed = (engine: ConnectionEngine, event: string, err: unknown) => void;

/** Runs a request handler; a handler that answers synchronously gets a synchronous outcome. */
function runHandler(
  handler: Handler,
  data: unknown,
  failed: HandlerFailed,
  engine: ConnectionEngine,
  event: string,
): Outcome | Promise<Outcome> {
  let result: unknown;
  try {
    result = handler(data);
  } catch (err) {
    failed(engine, event, err);
    return failure(err);
  }
  if (isThenable(result))
    return Promise.resolve(result).then(
      (value) => ({ ok: true, data: value }),
      (err: unknown) => {
        failed(engine, event, err);
        return failure(err);
      },
    );
  return { ok: true, data: result };
}

/** A TetherError is the app speaking to its client; anything else may hold secrets. */
function failure(err: unknown): Outcome {
  if (err instanceof TetherError) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: ErrorCode.HandlerError, message: GENERIC_HANDLER_ERROR };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
