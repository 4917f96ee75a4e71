import { parseTagged, stringifyTagged } from '@tether/protocol';
import type { Bus } from './bus.js';
import { type Outcome, type OutcomeStore, PENDING } from './outcome-store.js';

/**
 * Outcomes as JSON strings that keep bytes and dates (`stringifyTagged`) in the bus's shared values (`bus.get` / `bus.set`): what every bus
 * offers, and what a bus across processes needs.
 *
 * @example
 * const store = busOutcomeStore(redisBus);
 */
export function busOutcomeStore(bus: Bus): OutcomeStore {
  const storeKey = (sessionId: string, requestId: string) => `req:${sessionId}:${requestId}`;
  return {
    claim: (sessionId, requestId, ttlMs) =>
      bus.set(storeKey(sessionId, requestId), PENDING, ttlMs, { ifAbsent: true }),
    save: (sessionId, requestId, outcome, ttlMs) =>
      bus.set(storeKey(sessionId, requestId), stringifyTagged(outcome), ttlMs).then(noop),
    async load(sessionId, requestId) {
      const stored = await bus.get(storeKey(sessionId, requestId));
      if (stored === undefined || stored === PENDING) return stored;
      return parseTagged(stored) as Outcome;
    },
  };
}

function noop(): void {}
