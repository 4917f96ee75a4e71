import type { Logger } from '@tether/protocol';
import type { Bus } from './bus.js';
import type { MetricsSnapshot } from './metrics.js';
import { type NodeReport, type OperationsOptions, OperationsPage } from './operations.js';
import type { OperationsInbox } from './operations-inbox.js';
import type { Rooms } from './rooms.js';
import type { DeadLetters } from './users.js';

export type { OperationsPage };

/** What the page reads of the facade: public numbers only. */
interface Facade {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly options: { readonly path: string };
  metrics(): MetricsSnapshot;
  health(): { ready: boolean; bus: 'up' | 'down'; closing: boolean };
  readonly deadLetters: DeadLetters;
}

type DeadLetterRows = NodeReport['deadLetters'];

/**
 * The facade's operations page, wired to its numbers (kept out of `tether-server.ts`).
 *
 * @example
 * this.#operations = options.operations && operationsPage(this, rooms, options.operations);
 */
export function operationsPage(
  tether: Facade,
  rooms: Rooms,
  options: OperationsOptions,
  inbox: OperationsInbox,
): OperationsPage {
  // The inbox answers asynchronously and reports are made synchronously: each report carries
  // what the previous read found, and starts the next read.
  let deadLetters: DeadLetterRows = [];
  let reading = false;
  const readDeadLetters = () => {
    if (reading) return;
    reading = true;
    tether.deadLetters
      .list({ limit: 10 })
      .then((rows) => {
        deadLetters = rows.map(({ id, userId, event, attempts, deadAt }) => ({
          id,
          userId,
          event,
          attempts,
          deadAt,
        }));
      })
      .catch((err) => tether.logger.warn({ err }, 'operations page: dead letters not read'))
      .finally(() => {
        reading = false;
      });
  };
  return new OperationsPage(
    {
      nodeId: tether.nodeId,
      path: tether.options.path,
      bus: tether.bus,
      logger: tether.logger,
      inbox,
      snapshot: () => {
        const health = tether.health();
        readDeadLetters();
        return {
          ready: health.ready,
          bus: health.bus,
          closing: health.closing,
          metrics: tether.metrics(),
          rooms: rooms.largest(10),
          deadLetters,
        };
      },
    },
    options,
  );
}
