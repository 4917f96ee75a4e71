/** A listener of a connection's close. */
export type CloseListener = (reason: string, code: number) => void;

/**
 * A connection's close listeners: one as itself (most connections have at most one: an idle
 * connection then carries no array, 56 bytes), several in an array at its exact size. A plain
 * value the engine owns, like its handler table.
 */
export type CloseListeners = CloseListener | CloseListener[] | undefined;

/**
 * Adds a listener; returns the value to keep.
 *
 * @example
 * listeners = addCloseListener(listeners, () => cleanUp());
 */
export function addCloseListener(listeners: CloseListeners, listener: CloseListener): CloseListeners {
  // concat, not push: a push would grow a small array by 16 slots.
  return listeners === undefined ? listener : ([] as CloseListener[]).concat(listeners, listener);
}

/**
 * Removes every registration of `listener`, or all listeners when it is undefined; returns the
 * value to keep.
 *
 * @example
 * listeners = removeCloseListener(listeners, cleanUp);
 */
export function removeCloseListener(listeners: CloseListeners, listener?: unknown): CloseListeners {
  if (!listener || listeners === listener) return undefined;
  return Array.isArray(listeners) ? listeners.filter((l) => l !== listener) : listeners;
}

/**
 * Calls each listener in order; one that throws is reported to `failed` and the rest still run.
 *
 * @example
 * callCloseListeners(listeners, 'bye', 1000, (err) => logger.error({ err }, 'close listener threw'));
 */
export function callCloseListeners(
  listeners: CloseListeners,
  reason: string,
  code: number,
  failed: (err: unknown) => void,
): void {
  if (listeners === undefined) return;
  if (!Array.isArray(listeners)) {
    callOne(listeners, reason, code, failed);
    return;
  }
  for (const listener of listeners) callOne(listener, reason, code, failed);
}

function callOne(
  listener: CloseListener,
  reason: string,
  code: number,
  failed: (err: unknown) => void,
): void {
  try {
    listener(reason, code);
  } catch (err) {
    failed(err);
  }
}
