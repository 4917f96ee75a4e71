import { CloseCode, type Codec, type Frame } from '@tether/protocol';
import type { BroadcastOperator } from './broadcast.js';
import type { Bus, BusLink, BusStatus } from './bus.js';
import { BusReadiness } from './bus-readiness.js';
import { type Connection, handleOf } from './connection.js';
import type { ConnectionContext } from './connection-engine.js';
import { ConnectionRegistry } from './connection-registry.js';
import { Gateway } from './gateway.js';
import { HeartbeatSweep } from './heartbeat.js';
import { Identity, userKeyOfRequest } from './identity.js';
import { Inbound, type InboundHook } from './inbound-hooks.js';
import type { Inbox } from './inbox.js';
import type { Instrumentation } from './instrumentation.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryInbox } from './memory-inbox.js';
import type { Metrics } from './metrics.js';
import { NodeMessages } from './node-messages.js';
import type { OfflineNotification, UndeliveredNotification } from './notification-delivery.js';
import type { ResolvedOptions } from './options.js';
import type { UndeliveredMessage } from './outgoing-requests.js';
import { Requests } from './requests.js';
import { Rooms } from './rooms.js';
import type { SseOptions } from './transports/sse-options.js';
import type { EventMap } from './typed-events.js';
import { nodesOf } from './user-directory.js';
import { Users } from './users.js';

/** The options every part reads: one event map and data type inside the server. */
export type PartOptions = ResolvedOptions<EventMap, unknown>;

/** What the facade hands over to have its parts built and wired together. */
export interface PartsInput {
  readonly nodeId: string;
  readonly options: PartOptions;
  /** The app's bus; absent: the server makes (and later closes) a `MemoryBus`. */
  readonly bus: Bus | undefined;
  readonly sse: SseOptions | undefined;
  readonly counters: Metrics;
  readonly requestObservers: Array<(ms: number) => void>;
  /** Span hooks (`@tether/server/otel` sets them after start; parts read them on each use). */
  readonly instrumentation: Instrumentation;
  readonly closing: () => boolean;
  readonly broadcast: (room: string) => BroadcastOperator<EventMap>;
  readonly opened: (conn: Connection<EventMap, unknown>) => void;
  readonly busStatus: (status: BusStatus) => void;
  readonly undelivered: (message: UndeliveredMessage | UndeliveredNotification) => void;
  /** The app's inbox; absent: the server makes (and later closes) a `MemoryInbox`. */
  readonly inbox: Inbox | undefined;
  readonly offline: (notification: OfflineNotification) => void;
  readonly wantsOffline: () => boolean;
  /** The inbound hooks (`tether.use`), in order. */
  readonly hooks: readonly InboundHook[];
}

/** The parts of one server node; the facade owns them and closes them in `close()`. */
export interface ServerParts {
  readonly bus: Bus;
  readonly ownsBus: boolean;
  readonly link: Promise<BusLink>;
  readonly heartbeat: HeartbeatSweep;
  readonly registry: ConnectionRegistry;
  readonly rooms: Rooms;
  readonly requests: Requests;
  readonly gateway: Gateway;
  readonly identity: Identity;
  readonly readiness: BusReadiness;
  readonly users: Users;
  readonly ownsInbox: boolean;
}

/**
 * Builds the parts and gives each the small context it needs. Kept apart from the facade so
 * `TetherServer` holds only the public API; the wiring here is the one place that shows which
 * part talks to which (docs/architecture.md).
 */
export function assembleParts(input: PartsInput): ServerParts {
  const { nodeId, options, counters, closing } = input;
  const { logger } = options;
  const ownsBus = input.bus === undefined;
  const bus = input.bus ?? new MemoryBus({ dedupTtlMs: options.dedupWindowMs });
  const heartbeat = new HeartbeatSweep(options.heartbeat);
  const registry = new ConnectionRegistry(heartbeat, counters, logger);
  const nodeMessages = new NodeMessages(logger);
  const link = bus.attach({
    nodeId,
    onRoomMessage: (delivery) => rooms.fanOut(delivery),
    onNodeMessage: (payload) => nodeMessages.dispatch(payload),
    onStatus: (status) => {
      rooms.busStatus(status); // back up: every room reads what it missed (room-continuity.ts)
      readiness.changed(status);
    },
  });
  link.catch((err) => logger.error({ err }, 'could not attach to the bus'));
  const readiness = new BusReadiness(bus, link, logger, input.busStatus);
  const rooms = new Rooms({
    nodeId,
    bus,
    link,
    options,
    counters,
    logger,
    registry,
    closing,
    instrumentation: input.instrumentation,
  });
  const ownsInbox = input.inbox === undefined;
  const users = new Users({
    nodeId,
    bus,
    inbox: input.inbox ?? new MemoryInbox({ dedupWindowMs: options.dedupWindowMs }),
    options: options.notifications,
    dedupWindowMs: options.dedupWindowMs,
    userKey: options.limits.userKey,
    logger,
    nodeMessages,
    undelivered: input.undelivered,
    offline: input.offline,
    wantsOffline: input.wantsOffline,
  });
  const requests = new Requests({
    nodeId,
    bus,
    dedupWindowMs: options.dedupWindowMs,
    counters,
    logger,
    registry,
    nodeMessages,
    observers: input.requestObservers,
    instrumentation: input.instrumentation,
    onUndelivered: input.undelivered,
    acknowledge: (engine, message) => users.ack(engine, message),
    elsewhereOf: (engine) => {
      const user = users.userOf(engine);
      return user === undefined
        ? undefined
        : async () => (await nodesOf(bus, user)).some((node) => node !== nodeId);
    },
    closing,
  });
  const identity = new Identity({
    logger,
    rooms,
    authenticate: options.authenticate,
    userKeyOf: userKeyOfRequest(options.limits.userKey),
  });
  const inbound = new Inbound({
    logger,
    counters,
    hooks: input.hooks,
    request: (engine, message) => requests.handle(engine, message),
    refresh: (engine, message) => identity.refresh(engine, message),
  });
  const pingFrames = new Map<Codec, Frame>();
  const connections: ConnectionContext = {
    lowWaterBytes: options.lowWaterBytes,
    maxBufferedBytes: options.maxBufferedBytes,
    counters,
    logger,
    clock: heartbeat,
    pingFrame(codec) {
      let frame = pingFrames.get(codec);
      if (!frame) pingFrames.set(codec, (frame = codec.encode({ t: 'ping' })));
      return frame;
    },
    inbound: (engine, message) => inbound.handle(engine, message),
    reply: (engine, message) => requests.reply(engine.sessionId, message),
    clientJoin: (engine, message) =>
      rooms.clientJoin(engine, message).then(() => identity.clientJoined(engine, message.r)),
    join: (engine, room, since, announce) => rooms.join(engine, room, since, announce),
    leave: (engine, room) => rooms.leave(engine, room),
    requestClient: (engine, event, data, requestOptions) =>
      requests.requestClient(engine, event, data, requestOptions),
    broadcast: input.broadcast,
    closed(engine, code, reason) {
      // Closes the peer chose (normal, going away, no status) and shutdown are not drops.
      const dropped =
        code !== CloseCode.Normal &&
        code !== CloseCode.GoingAway &&
        code !== CloseCode.NoStatus &&
        !closing();
      const wasCurrent = registry.remove(engine, reason);
      users.closed(engine);
      identity.closed(engine);
      rooms.leaveAll(engine, dropped);
      // A deliberate close ends the session: its pending acks can no longer be delivered.
      if (wasCurrent && engine.endedByClient) requests.sessionEnded(engine.sessionId);
    },
  };
  const gateway = new Gateway({
    nodeId,
    options,
    sse: input.sse,
    bus,
    counters,
    logger,
    clock: heartbeat,
    registry,
    rooms,
    nodeMessages,
    identity,
    connections,
    closing,
    opened: (engine, handshake) => {
      users.opened(engine, handshake);
      input.opened(handleOf(engine));
    },
    resumed: (sessionId) => requests.sessionResumed(sessionId),
  });
  return {
    bus,
    ownsBus,
    link,
    heartbeat,
    registry,
    rooms,
    requests,
    gateway,
    identity,
    readiness,
    users,
    ownsInbox,
  };
}
