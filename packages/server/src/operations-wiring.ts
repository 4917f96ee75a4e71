import type { Logger } from '@tether/protocol';
import type { Bus } from './bus.js';
import type { MetricsSnapshot } from './metrics.js';
import { type OperationsOptions, OperationsPage } from './operations.js';
import type { Rooms } from './rooms.js';

export type { OperationsPage };

/** What the page reads of the facade: public numbers only. */
interface Facade {
  readonly nodeId: string;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly options: { readonly path: string };
  metrics(): MetricsSnapshot;
  health(): { ready: boolean; bus: 'up' | 'down'; closing: boolean };
}

/**
 * The facade's operations page, wired to its numbers (kept out of `tether-server.ts`).
 *
 * @example
 * this.#operations = options.operations && operationsPage(this, rooms, options.operations);
 */
export function operationsPage(tether: Facade, rooms: Rooms, options: OperationsOptions): OperationsPage {
  return new OperationsPage(
    {
      nodeId: tether.nodeId,
      path: tether.options.path,
      bus: tether.bus,
      logger: tether.logger,
      snapshot: () => {
        const health = tether.health();
        return {
          ready: health.ready,
          bus: health.bus,
          closing: health.closing,
          metrics: tether.metrics(),
          rooms: rooms.largest(10),
        };
      },
    },
    options,
  );
}
