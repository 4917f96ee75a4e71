import { CloseCode, type Logger } from '@tether/protocol';
import { type Connection, handleOf } from './connection.js';
import type { ConnectionEngine } from './connection-engine.js';
import type { HeartbeatSweep } from './heartbeat.js';
import { logClosed, logOpened } from './lifecycle-log.js';
import type { Metrics } from './metrics.js';
import type { EventMap } from './typed-events.js';

type Handle = Connection<EventMap, unknown>;

/**
 * The open connections of one node: by id, by session (a session's current connection is where
 * replies and retried requests go), the heartbeat sweep over them, and which of them resumed a
 * session. The only writer of those maps: the gateway adds, the engine's close removes.
 *
 * @example
 * registry.add(engine, session.resumed);
 * registry.current(sessionId)?.send(message, false);
 */
export class ConnectionRegistry {
  readonly #byId = new Map<string, ConnectionEngine>();
  readonly #bySession = new Map<string, ConnectionEngine>();
  readonly #heartbeat: HeartbeatSweep;
  readonly #counters: Metrics;
  readonly #logger: Logger;
  /** Connections that resumed a session: only their joins can end a presence grace period. */
  readonly #resumed = new WeakSet<ConnectionEngine>();
  /** Open SSE connections, kept as a count so `metrics()` never walks every connection. */
  #sse = 0;
  /** What `tether.connections` shows: handles, read through to the map of engines. */
  readonly view: ReadonlyMap<string, Handle>;

  constructor(heartbeat: HeartbeatSweep, counters: Metrics, logger: Logger) {
    this.#heartbeat = heartbeat;
    this.#counters = counters;
    this.#logger = logger;
    this.view = new HandleView(this.#byId);
  }

  get size(): number {
    return this.#byId.size;
  }

  get sseCount(): number {
    return this.#sse;
  }

  /** Registers a new connection; a connection the session had before is closed (replaced). */
  add(engine: ConnectionEngine, resumed: boolean): void {
    this.#bySession.get(engine.sessionId)?.close(CloseCode.SessionReplaced, 'session resumed elsewhere');
    this.#bySession.set(engine.sessionId, engine);
    this.#byId.set(engine.id, engine);
    if (engine.transportKind === 'sse') this.#sse++;
    if (resumed) this.#resumed.add(engine);
    this.#heartbeat.add(engine);
    this.#counters.connectionsOpened++;
    logOpened(this.#logger, engine, resumed);
  }

  /**
   * Forgets a closed connection (`reason`: why it closed, for the log). True when it was its session's current connection (the session
   * has no connection on this node now).
   */
  remove(engine: ConnectionEngine, reason: string): boolean {
    if (this.#byId.delete(engine.id) && engine.transportKind === 'sse') this.#sse--;
    logClosed(this.#logger, engine, engine.closeCode ?? CloseCode.Abnormal, reason);
    this.#heartbeat.delete(engine);
    this.#counters.connectionsClosed++;
    if (this.#bySession.get(engine.sessionId) !== engine) return false;
    this.#bySession.delete(engine.sessionId);
    return true;
  }

  /** The session's connection on this node, if any. */
  current(sessionId: string): ConnectionEngine | undefined {
    return this.#bySession.get(sessionId);
  }

  resumedSession(engine: ConnectionEngine): boolean {
    return this.#resumed.has(engine);
  }

  values(): IterableIterator<ConnectionEngine> {
    return this.#byId.values();
  }
}

/** A read-only map of handles over the registry's engines: no second map per connection. */
class HandleView implements ReadonlyMap<string, Handle> {
  readonly #engines: ReadonlyMap<string, ConnectionEngine>;

  constructor(engines: ReadonlyMap<string, ConnectionEngine>) {
    this.#engines = engines;
  }

  get size(): number {
    return this.#engines.size;
  }

  get(id: string): Handle | undefined {
    const engine = this.#engines.get(id);
    return engine && handleOf(engine);
  }

  has(id: string): boolean {
    return this.#engines.has(id);
  }

  forEach(
    callback: (value: Handle, key: string, map: ReadonlyMap<string, Handle>) => void,
    thisArg?: unknown,
  ): void {
    for (const [id, engine] of this.#engines) callback.call(thisArg, handleOf(engine), id, this);
  }

  *entries(): MapIterator<[string, Handle]> {
    for (const [id, engine] of this.#engines) yield [id, handleOf(engine)];
  }

  keys(): MapIterator<string> {
    return this.#engines.keys();
  }

  *values(): MapIterator<Handle> {
    for (const engine of this.#engines.values()) yield handleOf(engine);
  }

  [Symbol.iterator](): MapIterator<[string, Handle]> {
    return this.entries();
  }
}
