import {
  type Codec,
  ErrorCode,
  type Frame,
  type JoinMessage,
  type JoinResult,
  jsonCodec,
  type Logger,
  PRESENCE_EVENT,
  type RoomPosition,
  TetherError,
} from '@tether/protocol';
import { tracer } from '@tether/protocol/trace';
import type { Bus, BusLink, Delivery, HistoryPage } from './bus.js';
import { busFailure } from './bus-readiness.js';
import { handleOf } from './connection.js';
import type { ConnectionEngine } from './connection-engine.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Instrumentation } from './instrumentation.js';
import type { Metrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import { PresenceTracker } from './presence.js';
import { RoomContinuity } from './room-continuity.js';
import { RoomIndex } from './room-index.js';
import { validateRoomName } from './room-name.js';
import { errorReply, gapNotice, reply, roomMessage, SHUTTING_DOWN } from './server-messages.js';
import type { EventMap } from './typed-events.js';

const roomTrace = tracer('tether:server:rooms');

const rethrowBusFailure = (err: unknown): never => {
  throw busFailure(err);
};

/** Most messages one recovery replays; past it the room reports that recovery failed. */
const RECOVERY_LIMIT = 1_000;

/** What the rooms part needs from the server. */
export interface RoomsContext {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly link: Promise<BusLink>;
  readonly options: ResolvedOptions<EventMap, unknown>;
  readonly counters: Metrics;
  readonly logger: Logger;
  readonly registry: ConnectionRegistry;
  /** True once the server is shutting down: no more joins. */
  closing(): boolean;
  /** Span hooks (tracers); `join` wraps a join. */
  readonly instrumentation: Instrumentation;
}

/**
 * Rooms on one node: which local connections are in which room, the bus subscriptions that
 * follow from it, the one join policy (client joins and EventSource streams alike), joins with
 * history recovery, leaves with presence, and the fan-out of the bus's room messages.
 *
 * @example
 * const rooms = new Rooms(context);
 * const refused = await rooms.authorize(engine, 'lobby'); // the join policy
 * if (!refused) await rooms.join(engine, 'lobby', undefined, announce);
 */
export class Rooms {
  readonly #context: RoomsContext;
  readonly #index = new RoomIndex<ConnectionEngine>();
  readonly #subscriptions = new Map<string, Promise<void>>();
  readonly #presence: PresenceTracker;
  /** Gap detection and repair of the bus's room messages (room-continuity.ts). */
  readonly continuity: RoomContinuity;

  constructor(context: RoomsContext) {
    this.#context = context;
    const { bus, logger } = context;
    this.continuity = new RoomContinuity({
      bus,
      logger,
      counters: context.counters,
      fanOut: (delivery) => this.#fanOut(delivery),
      lost: (room, at) => {
        for (const engine of this.#index.members(room) ?? []) {
          engine.send(gapNotice(room, at), false);
          engine.passOver(room, at.offset);
        }
      },
      resubscribe: (room) => {
        void context.link
          .then(async (link) => {
            await link.unsubscribe(room);
            if (this.#index.has(room)) await link.subscribe(room);
          })
          .catch((err) => logger.warn({ err, room }, 'subscribing again failed'));
      },
    });
    this.#presence = new PresenceTracker(
      {
        bus,
        logger: context.logger,
        // Volatile and out of history; not counted as the app's publishes.
        publishPresence: (room, change, except) =>
          bus.publish({ room, event: PRESENCE_EVENT, data: change, history: false, volatile: true, except }),
      },
      context.options.presenceGraceMs,
    );
  }

  /** Rooms with at least one member on this node. */
  get count(): number {
    return this.#index.roomCount;
  }

  /**
   * The join policy, the same for every way a client asks to join: not while shutting down, a
   * valid name, within `maxRoomsPerConnection` (checked before `authorizeJoin`, so a client at
   * its limit costs the app nothing), then `authorizeJoin`. Resolves to the refusal, if any.
   */
  async authorize(engine: ConnectionEngine, room: string): Promise<TetherError | undefined> {
    const { options, logger, counters } = this.#context;
    if (this.#context.closing()) return new TetherError(ErrorCode.ServerClosing, SHUTTING_DOWN);
    const invalid = validateRoomName(room);
    if (invalid) return invalid;
    const tooMany = this.#roomLimitError(engine, room);
    if (tooMany) return tooMany;
    let allowed = false;
    try {
      allowed = (await options.authorizeJoin(handleOf(engine), room)) === true;
    } catch (err) {
      logger.debug({ err, room }, 'authorizeJoin threw');
    }
    if (allowed) return undefined;
    counters.joinsRefused++;
    return new TetherError(ErrorCode.JoinRefused, `joining "${room}" is not allowed`);
  }

  /** A client's `join`: the policy, then the join; answered with `res` or `err`. Never rejects. */
  async clientJoin(engine: ConnectionEngine, message: JoinMessage): Promise<void> {
    try {
      if (engine.isMember(message.r) && message.ep !== undefined && message.off !== undefined) {
        // A member that saw a gap asks to resume from its position: no new join, no policy.
        await this.resync(engine, message.r, { epoch: message.ep, offset: message.off }, message.id);
        return;
      }
      const refused = await this.authorize(engine, message.r);
      if (roomTrace.on)
        roomTrace('%s: join "%s"%s', engine.id, message.r, refused ? ` refused: ${refused.code}` : '');
      if (refused) {
        engine.send(errorReply(message.id, refused.code, refused.message), false);
        return;
      }
      const since =
        message.ep !== undefined && message.off !== undefined
          ? { epoch: message.ep, offset: message.off }
          : undefined;
      try {
        await this.join(engine, message.r, since, (result) => engine.send(reply(message.id, result), false));
      } catch (err) {
        const code = err instanceof TetherError ? err.code : ErrorCode.Internal;
        engine.send(errorReply(message.id, code, err instanceof Error ? err.message : 'join failed'), false);
      }
    } catch (err) {
      this.#context.logger.error({ err }, 'join failed');
    }
  }

  /**
   * Joins without asking the policy (server-side joins, and joins it allowed): subscribes the node,
   * records presence, reads the history after `since`, calls `announce` with the result, then
   * replays what was missed before live messages.
   */
  join(
    engine: ConnectionEngine,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult> {
    const around = this.#context.instrumentation.join;
    const run = () => this.#join(engine, room, since, announce);
    return around ? around({ room, connId: engine.id, resuming: since !== undefined }, run) : run();
  }

  async #join(
    engine: ConnectionEngine,
    room: string,
    since: RoomPosition | undefined,
    announce: (result: JoinResult) => void,
  ): Promise<JoinResult> {
    const { bus, options, counters, logger, nodeId } = this.#context;
    if (engine.closed) throw new TetherError(ErrorCode.Closed, 'connection is closed');
    const roomError = validateRoomName(room);
    if (roomError) throw roomError;
    // Checked right before beginJoin (no await between), so concurrent joins cannot overshoot.
    const tooMany = this.#roomLimitError(engine, room);
    if (tooMany) throw tooMany;
    if (!engine.beginJoin(room)) {
      const page = await bus.history(room, undefined, 0).catch(rethrowBusFailure);
      const result: JoinResult = { ep: page.epoch, off: page.offset };
      engine.toldEpoch(room, page.epoch);
      announce(result);
      return result;
    }
    this.#index.add(room, engine);
    let page: HistoryPage;
    try {
      await this.#subscription(room).catch(rethrowBusFailure);
      const member = { connId: engine.id, data: options.presenceData(handleOf(engine)) };
      bus
        .addMember(room, nodeId, member)
        .then(() => {
          if (options.presenceEventsFor(room))
            this.#presence.joined(
              engine.sessionId,
              room,
              member,
              this.#context.registry.resumedSession(engine),
            );
        })
        .catch((err) => logger.warn({ err, room }, 'presence not recorded'));
      page = await bus.history(room, since, RECOVERY_LIMIT).catch(rethrowBusFailure);
      this.continuity.position(room, page);
    } catch (err) {
      await this.leave(engine, room);
      throw err;
    }
    const recovered = since !== undefined && page.complete;
    const result: JoinResult = { ep: page.epoch, off: page.offset };
    if (since) {
      result.rec = recovered ? 1 : 0;
      if (recovered) counters.recoveriesOk++;
      else counters.recoveriesFailed++;
    }
    if (engine.closed) return result;
    announce(result);
    const baseline = recovered ? Math.min(since.offset, page.offset) : page.offset;
    engine.completeJoin(room, page.epoch, baseline, recovered ? page.messages : []);
    return result;
  }

  /** `dropped`: the connection was lost, so presence waits for its session to come back. */
  async leave(engine: ConnectionEngine, room: string, dropped = false): Promise<void> {
    const { bus, options, logger } = this.#context;
    if (!engine.endMembership(room)) return;
    const member = { connId: engine.id, data: options.presenceData(handleOf(engine)) };
    if (options.presenceEventsFor(room)) this.#presence.left(engine.sessionId, room, member, dropped);
    else
      bus.removeMember(room, engine.id).catch((err) => logger.debug({ err, room }, 'presence not removed'));
    if (!this.#index.delete(room, engine)) return;
    this.#subscriptions.delete(room);
    this.continuity.close(room);
    const link = await this.#context.link;
    await link.unsubscribe(room).catch((err) => logger.warn({ err, room }, 'unsubscribe failed'));
  }

  /** Every room of a closed connection. */
  leaveAll(engine: ConnectionEngine, dropped: boolean): void {
    for (const room of [...engine.roomNames()]) void this.leave(engine, room, dropped);
  }

  /** A room message from the bus: in order, once, gaps repaired first (see `RoomContinuity`). */
  fanOut(delivery: Delivery): void {
    this.continuity.receive(delivery);
  }

  /** A publish of this node resolved: its message must come back through the bus (see `RoomContinuity`). */
  published(room: string, at: RoomPosition): void {
    this.continuity.published(room, at);
  }

  /** The bus lost or regained its store: once up again, every room reads what it missed. */
  busStatus(status: 'up' | 'down'): void {
    if (status === 'up') this.continuity.busUp();
  }

  /**
   * A member asks to resume a room it is in from `since` (its client saw offsets jump): live
   * messages wait, history after `since` is read, the reply says whether it was complete, and
   * the missed messages follow it, as on a rejoin.
   */
  async resync(engine: ConnectionEngine, room: string, since: RoomPosition, id: string): Promise<void> {
    if (!engine.holdRoom(room)) {
      engine.send(errorReply(id, ErrorCode.Closed, 'not in the room, or already resuming'), false);
      return;
    }
    let page: HistoryPage;
    try {
      page = await this.#context.bus.history(room, since, RECOVERY_LIMIT);
    } catch (err) {
      // The held messages go on from where the connection was; the client is told.
      engine.completeJoin(room, since.epoch, since.offset, []);
      const code = err instanceof TetherError ? err.code : ErrorCode.Internal;
      engine.send(errorReply(id, code, err instanceof Error ? err.message : 'resume failed'), false);
      return;
    }
    const recovered = page.complete && page.epoch === since.epoch;
    if (recovered) this.#context.counters.recoveriesOk++;
    else this.#context.counters.recoveriesFailed++;
    engine.send(reply(id, { ep: page.epoch, off: page.offset, rec: recovered ? 1 : 0 }), false);
    const baseline = recovered ? Math.min(since.offset, page.offset) : page.offset;
    engine.completeJoin(room, page.epoch, baseline, recovered ? page.messages : []);
  }

  /** One encode per codec per message, then the same bytes to every local member. */
  #fanOut(delivery: Delivery): void {
    const members = this.#index.members(delivery.room);
    if (!members) return;
    const except = delivery.except;
    let frames: Map<Codec, Frame> | undefined;
    let jsonFrame: Frame | undefined;
    for (const engine of members) {
      if (except && except.length > 0 && except.includes(engine.id)) {
        if (!delivery.volatile) engine.passOver(delivery.room, delivery.offset);
        continue;
      }
      let frame: Frame | undefined;
      if (engine.codec === jsonCodec)
        frame = jsonFrame ??= Buffer.from(jsonCodec.encode(roomMessage(delivery)) as string);
      else {
        frames ??= new Map();
        frame = frames.get(engine.codec);
        if (!frame) frames.set(engine.codec, (frame = engine.codec.encode(roomMessage(delivery))));
      }
      engine.deliver(delivery, frame);
    }
  }

  /** The rooms with the most members on this node, most first (for the operations page). */
  largest(limit: number): Array<{ room: string; members: number }> {
    const sizes: Array<{ room: string; members: number }> = [];
    for (const room of this.#index.rooms())
      sizes.push({ room, members: this.#index.members(room)?.size ?? 0 });
    return sizes.sort((a, b) => b.members - a.members).slice(0, limit);
  }

  /** Stops presence timers and repairs (the connections have closed by then). */
  close(): Promise<void> {
    this.continuity.dispose();
    return this.#presence.close();
  }

  async #subscription(room: string): Promise<void> {
    let subscribed = this.#subscriptions.get(room);
    if (!subscribed) {
      this.continuity.open(room);
      subscribed = this.#context.link.then((link) => link.subscribe(room));
      this.#subscriptions.set(room, subscribed);
      subscribed.catch(() => this.#subscriptions.delete(room));
    }
    return subscribed;
  }

  /** TOO_MANY_ROOMS when joining `room` would take the connection past `maxRoomsPerConnection`. */
  #roomLimitError(engine: ConnectionEngine, room: string): TetherError | undefined {
    const max = this.#context.options.limits.maxRoomsPerConnection;
    if (engine.roomCount < max || engine.isMember(room)) return undefined;
    return new TetherError(ErrorCode.TooManyRooms, `a connection may be in at most ${max} rooms`, { max });
  }
}
