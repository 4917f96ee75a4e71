import { CloseCode, type Logger } from '@tether/protocol';
import { tracer } from '@tether/protocol/trace';

/**
 * The lifecycle lines of a node, in one place so their wording and levels stay the same
 * everywhere (docs/troubleshooting.md lists them): each goes to the app's `logger` and to the
 * matching `DEBUG=tether:server:*` trace. Connections opening and closing normally are `debug`
 * (they are churn); closes that mean trouble and refusals are `info`; rate-limit episodes and the
 * bus going down are `warn`.
 *
 * @example
 * logClosed(logger, { id, transport: 'websocket' }, 4029, 'rate limit exceeded for too long');
 */

const connTrace = tracer('tether:server:conn');
const busTrace = tracer('tether:server:bus');
const limitTrace = tracer('tether:server:limits');

/** Close codes worth an operator's eye: logged at `info`; the rest (normal churn) at `debug`. */
const TROUBLE: ReadonlySet<number> = new Set([
  CloseCode.Abnormal,
  CloseCode.MessageTooBig,
  CloseCode.BadMessage,
  CloseCode.UnknownType,
  CloseCode.HelloTimeout,
  CloseCode.HeartbeatTimeout,
  CloseCode.SlowConsumer,
  CloseCode.RateLimited,
  CloseCode.InternalError,
]);

/** What the lines say about a connection. */
export interface LoggedConnection {
  readonly id: string;
  readonly sessionId: string;
  readonly transportKind: 'websocket' | 'sse';
  readonly handshake: { readonly address: string | undefined };
}

/** A connection is open (welcomed). */
export function logOpened(logger: Logger, conn: LoggedConnection, resumed: boolean): void {
  const fields = {
    connId: conn.id,
    sessionId: conn.sessionId,
    transport: conn.transportKind,
    address: conn.handshake.address,
    resumed,
  };
  logger.debug(fields, 'connection opened');
  if (connTrace.on)
    connTrace(
      'opened %s (%s, %s%s)',
      conn.id,
      conn.transportKind,
      conn.handshake.address,
      resumed ? ', resumed' : '',
    );
}

/** A connection is gone: its close code and reason. */
export function logClosed(logger: Logger, conn: LoggedConnection, code: number, reason: string): void {
  const fields = { connId: conn.id, sessionId: conn.sessionId, transport: conn.transportKind, code, reason };
  if (TROUBLE.has(code)) logger.info(fields, 'connection closed');
  else logger.debug(fields, 'connection closed');
  if (connTrace.on) connTrace('closed %s (%s) %d %s', conn.id, conn.transportKind, code, reason);
}

/** A request or upgrade refused before a connection existed (HTTP status), or right after (close code). */
export function logRefused(
  logger: Logger,
  refusal: { status: number; code: string; message: string },
  transport: 'websocket' | 'sse' | 'eventsource',
  address: string | undefined,
  where?: { origin: string | undefined; url: string },
): void {
  logger.info({ ...refusal, transport, address, ...where }, 'connection refused');
  if (connTrace.on)
    connTrace(
      'refused %s from %s: %d %s %s',
      transport,
      address,
      refusal.status,
      refusal.code,
      refusal.message,
    );
}

/** The first refusal of a rate-limit episode (one line per episode, not per dropped message). */
export function logRateLimited(
  logger: Logger,
  connId: string,
  scope: 'connection' | 'user',
  why: string,
): void {
  logger.warn({ connId, scope }, `rate limit: ${why}; messages are refused until the client slows down`);
  if (limitTrace.on) limitTrace('%s: %s episode began (%s)', connId, scope, why);
}

/** A rate-limit episode ended: the connection's bucket refilled to half. */
export function logRateLimitEnded(logger: Logger, connId: string, refused: number): void {
  logger.debug({ connId, refused }, 'rate limit episode ended');
  if (limitTrace.on) limitTrace('%s: episode ended after %d refused messages', connId, refused);
}

/** The bus's state as first seen, and every change. */
export function logBusStatus(logger: Logger, status: 'up' | 'down', initial: boolean): void {
  if (status === 'down') logger.warn({ bus: status, initial }, initial ? 'bus is down' : 'bus went down');
  else logger.info({ bus: status, initial }, initial ? 'bus is up' : 'bus is up again');
  if (busTrace.on) busTrace('%s%s', status, initial ? ' (initial)' : '');
}
