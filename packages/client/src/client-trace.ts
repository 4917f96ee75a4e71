import type { Frame } from '@tether/protocol';
import { tracer } from '@tether/protocol/trace';
import type { ClientEnvironment } from './client-options.js';
import type { TetherClientBase } from './tether-client.js';
import type { TransportFactory, TransportKind } from './transports/transport.js';

/**
 * Debug tracing of the client (`DEBUG=tether:client*` on Node, `localStorage.debug =
 * 'tether:client*'` in a browser), kept out of the client core: it wraps the environment's
 * transports and listens to the client's public events. Namespaces:
 *
 * - `tether:client` state changes, disconnect reasons, errors;
 * - `tether:client:transport` each transport attempt, its open and its close (code, reason, HTTP status);
 * - `tether:client:frame` every frame in and out (text frames cut at 200 characters).
 *
 * @example
 * const env = tracingEnabled() ? traceEnvironment(nodeEnvironment) : nodeEnvironment;
 */
const clientTrace = tracer('tether:client');
const transportTrace = tracer('tether:client:transport');
const frameTrace = tracer('tether:client:frame');

/** True when any client namespace traces (checked once, when a client is made). */
export function tracingEnabled(): boolean {
  return clientTrace.on || transportTrace.on || frameTrace.on;
}

/** The environment with every transport wrapped to trace its life and frames. */
export function traceEnvironment(env: ClientEnvironment): ClientEnvironment {
  const transports: ClientEnvironment['transports'] = {};
  for (const [kind, factory] of Object.entries(env.transports) as Array<[TransportKind, TransportFactory]>)
    transports[kind] = traced(kind, factory);
  return { ...env, transports };
}

/** Traces a client's state changes, disconnect reasons and errors through its public events. */
export function traceClient(client: TetherClientBase): void {
  if (!clientTrace.on) return;
  clientTrace('client for %s (state %s)', client.url, client.state);
  client.on('state', (state) => clientTrace('state %s', state));
  client.on('tether:disconnect', (why) =>
    clientTrace(
      'disconnected %d %s (%s)',
      why.code,
      why.reason,
      why.willReconnect ? 'reconnecting' : 'closed',
    ),
  );
  client.on('error', (err) => clientTrace('error %s: %s', err.code, err.message));
  client.on('tether:recovery-failed', ({ room }) => clientTrace('recovery failed in %s', room));
  client.on('tether:rate-limited', ({ m, ms }) => clientTrace('rate limited for %d ms: %s', ms, m));
}

function traced(kind: TransportKind, factory: TransportFactory): TransportFactory {
  return (request) => {
    if (transportTrace.on) transportTrace('opening %s to %s', kind, request.url);
    const events = request.events;
    const transport = factory({
      ...request,
      events: {
        onOpen() {
          if (transportTrace.on) transportTrace('%s open', kind);
          events.onOpen();
        },
        onFrame(frame) {
          if (frameTrace.on) frameTrace('in  %s', describe(frame));
          events.onFrame(frame);
        },
        onClose(code, reason, status) {
          if (transportTrace.on)
            transportTrace('%s closed %d %s%s', kind, code, reason, status ? ` (HTTP ${status})` : '');
          events.onClose(code, reason, status);
        },
      },
    });
    return {
      kind: transport.kind,
      get bufferedAmount() {
        return transport.bufferedAmount;
      },
      send(frame) {
        if (frameTrace.on) frameTrace('out %s', describe(frame));
        transport.send(frame);
      },
      close(code, reason) {
        if (transportTrace.on) transportTrace('closing %s %s %s', kind, code ?? '', reason ?? '');
        transport.close(code, reason);
      },
    };
  };
}

function describe(frame: Frame | ArrayBuffer): string {
  if (typeof frame === 'string') return frame.length > 200 ? `${frame.slice(0, 200)}…` : frame;
  return `<${frame.byteLength} bytes>`;
}
