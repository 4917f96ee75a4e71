import { ErrorCode, isReservedEvent, TetherError } from '@tether/protocol';
import type { Bus, HistoryPolicy, PublishResult } from './bus.js';
import { busFailure } from './bus-readiness.js';
import { validateRoomName } from './room-name.js';
import type { EventMap, PayloadArgs, ServerEventName } from './typed-events.js';

/** Options of a room broadcast. */
export interface BroadcastOptions {
  /** Idempotency key: within the dedup window a second publish with this id is dropped. */
  id?: string;
  /** Not stored in history, not recovered; dropped first for congested receivers. */
  volatile?: boolean;
  /** Goes ahead of messages already queued for a congested receiver. Stored and recovered as usual. */
  urgent?: boolean;
  /**
   * Latest value wins: for a congested receiver, a queued message of the same event and key is
   * replaced by this one (`true`: one value per event). Stored and recovered as usual.
   */
  conflate?: string | true;
}

/** What a broadcast operator needs to publish. */
export type Publisher = (
  room: string,
  event: string,
  data: unknown,
  except: readonly string[],
  options: BroadcastOptions,
) => Promise<PublishResult>;

/**
 * Names a room, optionally minus some connections, and emits to every member on every node.
 *
 * @example
 * await tether.to('order:42').emit('location', { lat, lng });
 * await tether.to('chat:1').except(conn.id).emit('typing', {}, { volatile: true });
 * await tether.to('order:42').emit('location', { lat, lng }, { conflate: 'driver:7' });
 */
export class BroadcastOperator<E extends EventMap> {
  readonly #room: string;
  readonly #except: readonly string[];
  readonly #publish: Publisher;

  /** @internal made by `tether.to()` and `conn.to()`. */
  constructor(publish: Publisher, room: string, except: readonly string[] = []) {
    this.#publish = publish;
    this.#room = room;
    this.#except = except;
  }

  /** A new operator that also skips these connection ids. */
  except(connIds: string | readonly string[]): BroadcastOperator<E> {
    const more = typeof connIds === 'string' ? [connIds] : connIds;
    return new BroadcastOperator<E>(this.#publish, this.#room, [...this.#except, ...more]);
  }

  /** Publishes; resolves with the message's position once the bus has taken it. */
  emit<K extends ServerEventName<E>>(
    event: K,
    ...args: PayloadArgs<E, K, [options?: BroadcastOptions]>
  ): Promise<PublishResult> {
    if (isReservedEvent(event)) {
      return Promise.reject(new TetherError(ErrorCode.ReservedEvent, `"${event}" is a reserved event name`));
    }
    const [data, options = {}] = args as [unknown, BroadcastOptions?];
    return this.#publish(this.#room, event, data, this.#except, options);
  }
}

/** What decides a broadcast's history and idempotency window: the same for servers and emitters. */
export interface PublishPolicy {
  historyFor(room: string): HistoryPolicy | false;
  dedupWindowMs: number;
}

/**
 * Validates a broadcast and hands it to the bus. Servers and `TetherEmitter` both publish through
 * here, so a message gets the same offsets, history and idempotency whoever sends it. Volatile
 * messages keep no history and take no offset.
 *
 * @example
 * await publishBroadcast(bus, policy, 'order:42', 'status', { state: 'picked-up' }, [], { id: 'evt-1' });
 */
export function publishBroadcast(
  bus: Bus,
  policy: PublishPolicy,
  room: string,
  event: string,
  data: unknown,
  except: readonly string[],
  options: BroadcastOptions,
): Promise<PublishResult> {
  const roomError = validateRoomName(room);
  if (roomError) return Promise.reject(roomError);
  return bus
    .publish({
      room,
      event,
      data,
      history: options.volatile ? false : policy.historyFor(room),
      id: options.id,
      dedupTtlMs: policy.dedupWindowMs,
      volatile: options.volatile,
      except,
      urgent: options.urgent,
      conflate: options.conflate === true ? '' : options.conflate,
    })
    .catch((err: unknown) => {
      throw busFailure(err);
    });
}
