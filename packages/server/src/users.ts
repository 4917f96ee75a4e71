import {
  CloseCode,
  type Codec,
  ErrorCode,
  type Frame,
  type Logger,
  type RequestMessage,
  type ServerMessage,
} from '@tether/protocol';
import type { Bus } from './bus.js';
import type { ConnectionEngine } from './connection-engine.js';
import type { Handshake } from './handshake.js';
import type { DeadLetter, DeadLetterQuery, Inbox, InboxNotifyOptions, InboxNotifyResult } from './inbox.js';
import type { UserKey } from './limits/limit-options.js';
import type { NodeMessages } from './node-messages.js';
import {
  NotificationDelivery,
  type OfflineNotification,
  type UndeliveredNotification,
} from './notification-delivery.js';
import type { ResolvedNotificationOptions } from './notification-options.js';
import { errorReply, reply } from './server-messages.js';
import {
  enterDirectory,
  leaveDirectory,
  sendToUserNodes,
  USER_MESSAGE,
  type UserNodeMessage,
  type UserSender,
  type WireNotification,
} from './user-directory.js';

/** What the users part needs from the server. */
export interface UsersContext {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly inbox: Inbox;
  readonly options: ResolvedNotificationOptions;
  /** How long acknowledged notification ids are remembered (the server's `dedupWindowMs`). */
  readonly dedupWindowMs: number;
  readonly userKey: UserKey;
  readonly logger: Logger;
  readonly nodeMessages: NodeMessages;
  undelivered(message: UndeliveredNotification): void;
  offline(notification: OfflineNotification): void;
  wantsOffline(): boolean;
}

/** The dead letters of the inbox, as `tether.deadLetters` offers them. */
export interface DeadLetters {
  /** Dead letters, oldest first; `userId` filters, `limit` defaults to 100. */
  list(query?: DeadLetterQuery): Promise<DeadLetter[]>;
  /** Puts a dead letter back in its user's inbox (zero attempts, fresh TTL); false when no dead letter has that id. */
  redrive(id: string): Promise<boolean>;
}

/** Most ids one acknowledgement may carry. */
const MAX_ACK_IDS = 256;
/** Longest close reason in bytes a WebSocket close frame carries. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Users across nodes: which connections of each user are open here (and, through the bus's
 * presence, which nodes serve a user), live events and disconnects for a user on every node, and
 * the durable notifications (`NotificationDelivery`) with the client's acknowledgements.
 *
 * @example
 * users.opened(engine, handshake);       // the gateway let a connection in
 * await users.emit('42', 'badge', { n: 3 });
 * users.closed(engine);                  // its transport is gone
 */
export class Users implements UserSender {
  readonly #context: UsersContext;
  /** Open connections per user on this node. */
  readonly #local = new Map<string, Set<ConnectionEngine>>();
  readonly #userOf = new WeakMap<ConnectionEngine, string>();
  /** Directory writes per user, chained so an enter and a leave of one user reach the bus in order. */
  readonly #directory = new Map<string, Promise<void>>();
  /**
   * Connections waiting for their first claim (a resend): notifications other nodes send them
   * meanwhile are held here and follow the re-sent ones, so a new connection never gets a newer
   * notification before an older one in flight.
   */
  readonly #held = new Map<ConnectionEngine, WireNotification[]>();
  readonly #delivery: NotificationDelivery;
  readonly deadLetters: DeadLetters;
  /** The inbox notifications are stored in (its owner closes it). */
  readonly inbox: Inbox;

  constructor(context: UsersContext) {
    this.#context = context;
    const { inbox } = context;
    this.inbox = inbox;
    this.#delivery = new NotificationDelivery({
      inbox,
      options: context.options,
      logger: context.logger,
      claimer: context.nodeId,
      resendStarted: (user) => this.#resendStarted(user),
      serves: (user) => this.#local.has(user),
      users: () => this.#local.keys(),
      deliver: (user, notes, resent) => this.#deliver(user, notes, resent),
      undelivered: (message) => context.undelivered(message),
      offline: (notification) => context.offline(notification),
      wantsOffline: () => context.wantsOffline(),
    });
    context.nodeMessages.register(USER_MESSAGE, (payload) => this.#onNodeMessage(payload as UserNodeMessage));
    this.deadLetters = {
      list: (query) => inbox.deadLetters(query),
      redrive: (id) => inbox.redrive(id),
    };
  }

  /** The user of a connection (the `userKey` option), if it has one. */
  userOf(engine: ConnectionEngine): string | undefined {
    return this.#userOf.get(engine);
  }

  /** A connection opened: index it under its user and claim what waits for that user. */
  opened(engine: ConnectionEngine, handshake: Handshake): void {
    const user = this.#keyOf(engine, handshake);
    if (user === undefined) return;
    this.#userOf.set(engine, user);
    let engines = this.#local.get(user);
    if (!engines) {
      this.#local.set(user, (engines = new Set()));
      this.#directoryWrite(user, () => enterDirectory(this.#context.bus, this.#context.nodeId, user));
    }
    engines.add(engine);
    this.#held.set(engine, []);
    this.#delivery.wake(user, true);
  }

  /** A connection closed. */
  closed(engine: ConnectionEngine): void {
    const user = this.#userOf.get(engine);
    this.#held.delete(engine);
    const engines = user === undefined ? undefined : this.#local.get(user);
    if (!engines?.delete(engine) || engines.size > 0) return;
    this.#local.delete(user!);
    this.#directoryWrite(user!, () => leaveDirectory(this.#context.bus, this.#context.nodeId, user!));
  }

  // ---- UserSender: what `tether.user(key)` does --------------------------------------------------

  async emit(user: string, event: string, data: unknown): Promise<void> {
    this.#sendLocal(user, { t: 'evt', e: event, d: data }, false);
    const { bus, nodeId } = this.#context;
    await sendToUserNodes(bus, { kind: USER_MESSAGE, op: 'emit', user, event, data }, nodeId);
  }

  notify(
    user: string,
    event: string,
    data: unknown,
    options: InboxNotifyOptions,
  ): Promise<InboxNotifyResult> {
    // The inbox wakes every node (this one too) once it is stored: delivery starts from there.
    return this.#context.inbox.notify(user, event, data, options);
  }

  async disconnect(user: string, reason: string): Promise<void> {
    this.#disconnectLocal(user, reason);
    const { bus, nodeId } = this.#context;
    await sendToUserNodes(bus, { kind: USER_MESSAGE, op: 'disconnect', user, reason }, nodeId);
  }

  // ---- acknowledgements ------------------------------------------------------------------------

  /** The client's `tether:ack` request: `d` is `{ ids }`, the notifications its listeners handled. */
  ack(engine: ConnectionEngine, message: RequestMessage): void {
    const ids = (message.d as { ids?: unknown } | undefined)?.ids;
    const user = this.#userOf.get(engine);
    if (!Array.isArray(ids) || ids.length > MAX_ACK_IDS || !ids.every((id) => typeof id === 'string')) {
      engine.send(
        errorReply(message.id, ErrorCode.BadMessage, `ack needs { ids: string[] } (at most ${MAX_ACK_IDS})`),
        false,
      );
      return;
    }
    if (user === undefined) {
      engine.send(errorReply(message.id, ErrorCode.BadMessage, 'this connection has no user key'), false);
      return;
    }
    const { inbox, dedupWindowMs, logger } = this.#context;
    inbox.ack(user, ids as string[], { dedupWindowMs }).then(
      () => {
        engine.send(reply(message.id, null), false);
        // Another node's notification may have held this node's claims back until now.
        this.#delivery.wake(user);
      },
      (err: unknown) => {
        logger.warn({ err, user }, 'notification ack failed: the notifications will be delivered again');
        engine.send(
          errorReply(message.id, ErrorCode.Internal, 'the acknowledgement could not be stored'),
          false,
        );
      },
    );
  }

  /** Stops delivering (the sweep, the inbox subscription). */
  async close(): Promise<void> {
    await this.#delivery.close();
    await Promise.allSettled([...this.#directory.values()]);
  }

  // ---- this node's connections -------------------------------------------------------------------

  #keyOf(engine: ConnectionEngine, handshake: Handshake): string | undefined {
    let key: unknown;
    try {
      key = this.#context.userKey({ data: engine.data, handshake });
    } catch (err) {
      this.#context.logger.warn({ err, connId: engine.id }, 'userKey threw: the connection has no user');
      return undefined;
    }
    if (typeof key === 'string') return key === '' ? undefined : key;
    if (typeof key === 'number' && Number.isFinite(key)) return String(key);
    return undefined;
  }

  #directoryWrite(user: string, write: () => Promise<void>): void {
    const previous = this.#directory.get(user) ?? Promise.resolve();
    const next = previous
      .then(write)
      .catch((err: unknown) => this.#context.logger.warn({ err, user }, 'user directory write failed'))
      .finally(() => {
        if (this.#directory.get(user) === next) this.#directory.delete(user);
      });
    this.#directory.set(user, next);
  }

  /** Sends one message to every local connection of the user, encoded once per codec. */
  #sendLocal(user: string, message: ServerMessage, urgent: boolean): void {
    const engines = this.#local.get(user);
    if (!engines) return;
    let frames: Map<Codec, Frame> | undefined;
    for (const engine of engines) {
      frames ??= new Map();
      let frame = frames.get(engine.codec);
      if (frame === undefined) frames.set(engine.codec, (frame = engine.codec.encode(message)));
      engine.sendFrame(frame, false, urgent);
    }
  }

  #deliverLocal(user: string, notes: readonly WireNotification[], resent = false): void {
    const engines = this.#local.get(user);
    if (!engines) return;
    let ready: ConnectionEngine[] | undefined;
    for (const engine of engines) {
      const held = this.#held.get(engine);
      if (held === undefined || resent) (ready ??= []).push(engine);
      else held.push(...notes);
    }
    if (ready) for (const note of notes) this.#sendNote(ready, note);
  }

  #sendNote(engines: Iterable<ConnectionEngine>, note: WireNotification): void {
    const message: ServerMessage = { t: 'evt', e: note.event, d: note.data, n: note.id };
    let frames: Map<Codec, Frame> | undefined;
    for (const engine of engines) {
      frames ??= new Map();
      let frame = frames.get(engine.codec);
      if (frame === undefined) frames.set(engine.codec, (frame = engine.codec.encode(message)));
      engine.sendFrame(frame, false, note.urgent);
    }
  }

  /** A resend claim starts: the connections held back now are let go once it delivered. */
  #resendStarted(user: string): () => void {
    const waiting = [...(this.#local.get(user) ?? [])].filter((engine) => this.#held.has(engine));
    return () => {
      for (const engine of waiting) {
        const held = this.#held.get(engine);
        if (held === undefined) continue;
        this.#held.delete(engine);
        for (const note of held) this.#sendNote([engine], note);
      }
    };
  }

  async #deliver(user: string, notes: WireNotification[], resent: boolean): Promise<void> {
    this.#deliverLocal(user, notes, resent);
    const { bus, nodeId } = this.#context;
    await sendToUserNodes(bus, { kind: USER_MESSAGE, op: 'notify', user, notes }, nodeId);
  }

  #disconnectLocal(user: string, reason: string): void {
    const text = closeReason(reason);
    for (const engine of [...(this.#local.get(user) ?? [])]) engine.close(CloseCode.UserDisconnected, text);
  }

  #onNodeMessage(message: UserNodeMessage): void {
    if (typeof message.user !== 'string') return;
    switch (message.op) {
      case 'emit':
        this.#sendLocal(message.user, { t: 'evt', e: message.event, d: message.data }, false);
        return;
      case 'notify':
        this.#deliverLocal(message.user, message.notes);
        return;
      case 'disconnect':
        this.#disconnectLocal(message.user, message.reason);
        return;
    }
  }
}

/**
 * A close reason that fits a WebSocket close frame (123 bytes of UTF-8), cut at a character.
 *
 * @example
 * closeReason('account closed'); // 'account closed'
 */
export function closeReason(reason: string): string {
  const text = String(reason);
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text;
  let cut = text.slice(0, MAX_CLOSE_REASON_BYTES);
  while (Buffer.byteLength(cut) > MAX_CLOSE_REASON_BYTES) cut = cut.slice(0, -1);
  return cut;
}
