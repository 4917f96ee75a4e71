/**
 * Counters the server keeps on its hot paths: plain numbers, bumped in place. `tether.metrics()`
 * returns a copy with the gauges (connections, rooms) filled in.
 */
export class Metrics {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Frames refused: bad frames, reserved events from clients. */
  rejected = 0;
  requestsHandled = 0;
  /** Requests answered from the dedup store instead of running the handler again. */
  dedupHits = 0;
  /** Server-to-client request attempts after the first. */
  retries = 0;
  /** Server-to-client requests given up (`undelivered` emitted). */
  undelivered = 0;
  publishes = 0;
  recoveriesOk = 0;
  recoveriesFailed = 0;
  /** Room messages a node missed on the bus and read from history instead (room-continuity.ts). */
  gapMessagesRepaired = 0;
  /** Gaps a node could not fill from history; the room's members were told. */
  gapsLost = 0;
  volatileDropped = 0;
  slowConsumerCloses = 0;
  joinsRefused = 0;
  connectionsOpened = 0;
  connectionsClosed = 0;
  /** Inbound messages refused by a rate limit. */
  rateLimited = 0;
}

/** Byte size of a frame as sent (UTF-8 for text). */
export function frameBytes(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/** The snapshot `tether.metrics()` returns. */
export interface MetricsSnapshot {
  connections: { total: number; websocket: number; sse: number };
  rooms: number;
  messages: { in: number; out: number; rejected: number; rateLimited: number };
  bytes: { in: number; out: number };
  requests: { handled: number; dedupHits: number };
  acks: { retries: number; undelivered: number };
  publishes: number;
  recoveries: { ok: number; failed: number };
  drops: { volatile: number; slowConsumerCloses: number };
  joinsRefused: number;
  connectionsOpened: number;
  connectionsClosed: number;
  bus: { status: 'up' | 'down' };
}

/** The gauges a snapshot reads beside the counters. */
export interface MetricsGauges {
  connections: number;
  sseConnections: number;
  rooms: number;
  bus: 'up' | 'down';
}

/** Copies the counters into the shape `tether.metrics()` returns. */
export function metricsSnapshot(m: Metrics, gauges: MetricsGauges): MetricsSnapshot {
  const { connections: total, sseConnections: sse } = gauges;
  return {
    connections: { total, websocket: total - sse, sse },
    rooms: gauges.rooms,
    messages: { in: m.messagesIn, out: m.messagesOut, rejected: m.rejected, rateLimited: m.rateLimited },
    bytes: { in: m.bytesIn, out: m.bytesOut },
    requests: { handled: m.requestsHandled, dedupHits: m.dedupHits },
    acks: { retries: m.retries, undelivered: m.undelivered },
    publishes: m.publishes,
    recoveries: { ok: m.recoveriesOk, failed: m.recoveriesFailed },
    drops: { volatile: m.volatileDropped, slowConsumerCloses: m.slowConsumerCloses },
    joinsRefused: m.joinsRefused,
    connectionsOpened: m.connectionsOpened,
    connectionsClosed: m.connectionsClosed,
    bus: { status: gauges.bus },
  };
}
