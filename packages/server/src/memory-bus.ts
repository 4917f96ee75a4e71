import { randomBytes } from 'node:crypto';
import type {
  Bus,
  BusLink,
  BusNode,
  BusStatus,
  Delivery,
  HistoryPage,
  PresenceMember,
  Publication,
  PublishResult,
  RoomPosition,
} from './bus.js';
import { LocalOutcomeStore } from './outcome-store.js';

/** Options of `MemoryBus`. */
export interface MemoryBusOptions {
  /** Default window for idempotent publish ids, in ms. */
  dedupTtlMs?: number;
  /** How often expired values, idle rooms and old history are swept, in ms. */
  sweepIntervalMs?: number;
}

interface RoomState {
  epoch: string;
  offset: number;
  /** Offsets up to this one are gone from history (trimmed or expired). */
  trimmedThrough: number;
  history: Array<{ delivery: Delivery; expiresAt: number; bytes: number }>;
  /** Sum of the `bytes` in `history`. */
  bytes: number;
  ttlMs: number;
  lastPublishAt: number;
}

interface Expiring {
  value: string;
  expiresAt: number;
}

const newEpoch = () => randomBytes(6).toString('base64url');

/** Bytes of a message body as JSON (event, room and data), as the byte budget counts them. */
function bodyBytes(delivery: Delivery): number {
  try {
    const json = JSON.stringify(delivery.data) ?? '';
    return json.length + delivery.event.length + delivery.room.length + 20;
  } catch {
    return delivery.event.length + delivery.room.length + 20; // not JSON-able (BigInt, a cycle)
  }
}

/**
 * The in-process bus: the default for a single node, and a way to run several nodes in one
 * process (pass the same instance to each `TetherServer`). Everything lives in memory and is
 * bounded by sizes and expiry; nothing survives the process.
 *
 * @example
 * const bus = new MemoryBus();
 * const a = new TetherServer({ server: httpA, bus });
 * const b = new TetherServer({ server: httpB, bus }); // a and b now share rooms and history
 */
export class MemoryBus implements Bus {
  readonly status: BusStatus = 'up';
  readonly #nodes = new Map<string, BusNode>();
  readonly #subscribers = new Map<string, Set<string>>();
  readonly #rooms = new Map<string, RoomState>();
  readonly #values = new Map<string, Expiring>();
  /** Request outcomes as objects: the nodes sharing this bus share one process. */
  readonly outcomes = new LocalOutcomeStore();
  readonly #presence = new Map<string, Map<string, { nodeId: string; member: PresenceMember }>>();
  readonly #dedupTtlMs: number;
  readonly #sweepIntervalMs: number;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryBusOptions = {}) {
    this.#dedupTtlMs = options.dedupTtlMs ?? 5 * 60_000;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  async attach(node: BusNode): Promise<BusLink> {
    if (this.#nodes.has(node.nodeId)) throw new Error(`node ${node.nodeId} is already attached`);
    this.#nodes.set(node.nodeId, node);
    this.#startSweep();
    const rooms = new Set<string>();
    return {
      subscribe: async (room) => {
        rooms.add(room);
        let set = this.#subscribers.get(room);
        if (!set) this.#subscribers.set(room, (set = new Set()));
        set.add(node.nodeId);
      },
      unsubscribe: async (room) => {
        rooms.delete(room);
        this.#unsubscribe(node.nodeId, room);
      },
      detach: async () => {
        if (this.#nodes.get(node.nodeId) !== node) return;
        for (const room of rooms) this.#unsubscribe(node.nodeId, room);
        rooms.clear();
        this.#dropPresenceOf(node.nodeId);
        this.#nodes.delete(node.nodeId);
        if (this.#nodes.size === 0) this.#stopSweep();
      },
    };
  }

  async publish(publication: Publication): Promise<PublishResult> {
    const now = Date.now();
    const room = this.#room(publication.room, now);
    if (publication.id !== undefined) {
      const key = `pub:${publication.room}:${publication.id}`;
      if (this.#liveValue(key, now) !== undefined)
        return { epoch: room.epoch, offset: room.offset, duplicate: true };
      this.#values.set(key, { value: '1', expiresAt: now + (publication.dedupTtlMs ?? this.#dedupTtlMs) });
    }
    const delivery: Delivery = {
      room: publication.room,
      event: publication.event,
      data: publication.data,
      epoch: room.epoch,
      offset: publication.volatile ? room.offset : ++room.offset,
    };
    if (publication.volatile) delivery.volatile = true;
    if (publication.except?.length) delivery.except = publication.except;
    if (publication.urgent) delivery.urgent = true;
    if (publication.conflate !== undefined) delivery.conflate = publication.conflate;
    room.lastPublishAt = now;
    if (!publication.volatile) this.#record(room, delivery, publication.history, now);
    const nodeIds = this.#subscribers.get(publication.room);
    if (nodeIds) for (const nodeId of nodeIds) this.#nodes.get(nodeId)?.onRoomMessage(delivery);
    return { epoch: room.epoch, offset: delivery.offset, duplicate: false };
  }

  async history(roomName: string, after: RoomPosition | undefined, limit: number): Promise<HistoryPage> {
    const now = Date.now();
    const room = this.#room(roomName, now);
    this.#expire(room, now);
    const page: HistoryPage = { epoch: room.epoch, offset: room.offset, messages: [], complete: true };
    if (!after) return page;
    if (after.epoch !== room.epoch) return { ...page, complete: room.offset === 0 && after.offset === 0 };
    if (after.offset >= room.offset) return page;
    const missed = room.history.filter((h) => h.delivery.offset > after.offset).map((h) => h.delivery);
    page.messages = missed.slice(0, limit);
    page.complete = after.offset >= room.trimmedThrough && missed.length <= limit;
    return page;
  }

  async sendToNode(nodeId: string, payload: unknown): Promise<void> {
    const node = this.#nodes.get(nodeId);
    // A real bus would serialize; cloning keeps sender and receiver from sharing objects here too.
    if (node) queueMicrotask(() => node.onNodeMessage(structuredClone(payload)));
  }

  async get(key: string): Promise<string | undefined> {
    return this.#liveValue(key, Date.now());
  }

  async set(
    key: string,
    value: string,
    ttlMs: number,
    options: { ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    const now = Date.now();
    if (options.ifAbsent && this.#liveValue(key, now) !== undefined) return false;
    this.#values.set(key, { value, expiresAt: now + ttlMs });
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    const now = Date.now();
    const current = this.#liveValue(key, now);
    const next = (current === undefined ? 0 : Number(current)) + 1;
    const expiresAt = current === undefined ? now + ttlMs : this.#values.get(key)!.expiresAt;
    this.#values.set(key, { value: String(next), expiresAt });
    return next;
  }

  async addMember(room: string, nodeId: string, member: PresenceMember): Promise<void> {
    let members = this.#presence.get(room);
    if (!members) this.#presence.set(room, (members = new Map()));
    members.set(member.connId, { nodeId, member });
  }

  async removeMember(room: string, connId: string): Promise<void> {
    const members = this.#presence.get(room);
    if (!members) return;
    members.delete(connId);
    if (members.size === 0) this.#presence.delete(room);
  }

  async members(room: string): Promise<PresenceMember[]> {
    return [...(this.#presence.get(room)?.values() ?? [])].map((entry) => entry.member);
  }

  async close(): Promise<void> {
    this.#stopSweep();
    this.#nodes.clear();
    this.#subscribers.clear();
    this.#rooms.clear();
    this.#values.clear();
    this.outcomes.clear();
    this.#presence.clear();
  }

  #room(name: string, now: number): RoomState {
    let room = this.#rooms.get(name);
    if (!room) {
      room = {
        epoch: newEpoch(),
        offset: 0,
        trimmedThrough: 0,
        history: [],
        bytes: 0,
        ttlMs: 0,
        lastPublishAt: now,
      };
      this.#rooms.set(name, room);
    }
    return room;
  }

  #record(room: RoomState, delivery: Delivery, policy: Publication['history'], now: number): void {
    if (policy === false || policy.size <= 0) {
      room.trimmedThrough = delivery.offset;
      return;
    }
    room.ttlMs = policy.ttlMs;
    const budget = policy.maxBytes ?? Number.POSITIVE_INFINITY;
    // Only a budget needs the size: the JSON a bus that serializes would store.
    const bytes = Number.isFinite(budget) ? bodyBytes(delivery) : 0;
    room.history.push({ delivery, expiresAt: now + policy.ttlMs, bytes });
    room.bytes += bytes;
    while (room.history.length > policy.size || (room.bytes > budget && room.history.length > 1))
      this.#dropOldest(room);
  }

  #expire(room: RoomState, now: number): void {
    while (room.history.length > 0 && room.history[0]!.expiresAt <= now) this.#dropOldest(room);
  }

  #dropOldest(room: RoomState): void {
    const oldest = room.history.shift()!;
    room.bytes -= oldest.bytes;
    room.trimmedThrough = oldest.delivery.offset;
  }

  #liveValue(key: string, now: number): string | undefined {
    const entry = this.#values.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#values.delete(key);
      return undefined;
    }
    return entry.value;
  }

  #unsubscribe(nodeId: string, room: string): void {
    const set = this.#subscribers.get(room);
    if (!set) return;
    set.delete(nodeId);
    if (set.size === 0) this.#subscribers.delete(room);
  }

  #dropPresenceOf(nodeId: string): void {
    for (const [room, members] of this.#presence) {
      for (const [connId, entry] of members) if (entry.nodeId === nodeId) members.delete(connId);
      if (members.size === 0) this.#presence.delete(room);
    }
  }

  #startSweep(): void {
    if (this.#sweepTimer) return;
    this.#sweepTimer = setInterval(() => this.#sweep(), this.#sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  #stopSweep(): void {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #sweep(): void {
    const now = Date.now();
    this.outcomes.sweep(now);
    for (const [key, entry] of this.#values) if (entry.expiresAt <= now) this.#values.delete(key);
    for (const [name, room] of this.#rooms) {
      this.#expire(room, now);
      // A room nobody publishes to or listens to is forgotten once its history has expired;
      // its next message starts a new epoch, which clients correctly see as "not recovered".
      const idleFor = now - room.lastPublishAt;
      if (
        room.history.length === 0 &&
        !this.#subscribers.has(name) &&
        idleFor > Math.max(room.ttlMs, 60_000)
      ) {
        this.#rooms.delete(name);
      }
    }
  }
}
