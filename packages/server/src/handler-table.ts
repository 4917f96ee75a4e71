/** An event handler of a connection; for requests, the first one's result is the reply. */
export type Handler = (data: unknown) => unknown;
type HandlerList = Handler[];

/** An event's handlers: one as itself (the usual case), several in a list. */
export type Handlers = Handler | readonly Handler[];

/**
 * A connection's event handlers as one flat list, `[event, handlers, event, handlers, ...]`,
 * searched in order; `undefined` until the first handler. An event's lone handler is kept as
 * itself, not in an array of one (56 bytes on every connection); a second one turns the entry
 * into a list. A connection registers a handful of events: a small array scans as fast as a Map
 * hashes and costs a third of one (an empty Map's table alone is 152 bytes), on every idle
 * connection. Kept as a plain value the engine owns, not an object of its own, so an idle
 * connection pays for no extra object header.
 */
export type HandlerTable = Array<string | Handler | HandlerList> | undefined;

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
  if (at >= 0) {
    const handlers = table![at + 1] as Handler | HandlerList;
    // A list grows in place, so that a dispatch under way calls the new handler too (a lone
    // handler's dispatch looks at the entry again: see `dispatchEvent`).
    if (typeof handlers === 'function') table![at + 1] = [handlers, handler];
    else handlers.push(handler);
    return table;
  }
  // New arrays are made at their exact size (literals, concat): a push grows a small array by 16 slots.
  return table ? table.concat([event, handler]) : [event, handler];
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
  const handlers = table[at + 1] as Handler | HandlerList;
  const rest = !handler ? [] : typeof handlers === 'function' ? [handlers] : handlers;
  const kept = rest.filter((h) => h !== handler);
  if (kept.length > 0) table[at + 1] = kept;
  else table.splice(at, 2);
}

/**
 * The handlers of an event, in registration order (one as itself), or undefined.
 *
 * @example
 * const handlers = handlersOf(table, 'chat:send');
 */
export function handlersOf(table: HandlerTable, event: string): Handlers | undefined {
  const at = slotOf(table, event);
  return at < 0 ? undefined : (table![at + 1] as Handlers);
}

/**
 * The first handler of an event (the one that answers a request), or undefined.
 *
 * @example
 * const answer = firstHandler(table, 'chat:send');
 */
export function firstHandler(table: HandlerTable, event: string): Handler | undefined {
  const handlers = handlersOf(table, event);
  return typeof handlers === 'function' ? handlers : handlers?.[0];
}
