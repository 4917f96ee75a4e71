/** An event handler of a connection; for requests, the first one's result is the reply. */
export type Handler = (data: unknown) => unknown;
type HandlerList = Handler[];

/**
 * A connection's event handlers as one flat list, `[event, handlers, event, handlers, ...]`,
 * searched in order; `undefined` until the first handler. A connection registers a handful of
 * events: a small array scans as fast as a Map hashes and costs a third of one (an empty Map's
 * table alone is 152 bytes), on every idle connection. Kept as a plain value the engine owns, not
 * an object of its own, so an idle connection pays for no extra object header.
 */
export type HandlerTable = Array<string | HandlerList> | undefined;

/** The index of `event` in the table (its handlers follow it), or -1. */
function slotOf(table: HandlerTable, event: string): number {
  if (table === undefined) return -1;
  for (let i = 0; i < table.length; i += 2) if (table[i] === event) return i;
  return -1;
}

/**
 * Adds a handler; returns the table to keep (a new one when the event is new).
 *
 * @example
 * table = addHandler(table, 'chat:send', handler);
 */
export function addHandler(table: HandlerTable, event: string, handler: Handler): HandlerTable {
  const at = slotOf(table, event);
  // Added to the event's list in place, so that a dispatch under way calls it too.
  if (at >= 0) {
    (table![at + 1] as HandlerList).push(handler);
    return table;
  }
  // New arrays are made at their exact size (literals, concat): a push grows a small array by 16 slots.
  return table ? table.concat([event, [handler]]) : [event, [handler]];
}

/**
 * Removes one handler, or every handler of the event when `handler` is undefined (in place).
 *
 * @example
 * removeHandler(table, 'chat:send');
 */
export function removeHandler(table: HandlerTable, event: string, handler?: unknown): void {
  const at = slotOf(table, event);
  if (!table || at < 0) return;
  const list = table[at + 1] as HandlerList;
  const rest = handler ? list.filter((h) => h !== handler) : [];
  if (rest.length > 0) table[at + 1] = rest;
  else table.splice(at, 2);
}

/**
 * The handlers of an event, in registration order, or undefined.
 *
 * @example
 * const answer = handlersOf(table, 'chat:send')?.[0];
 */
export function handlersOf(table: HandlerTable, event: string): readonly Handler[] | undefined {
  const at = slotOf(table, event);
  return at < 0 ? undefined : (table![at + 1] as HandlerList);
}
