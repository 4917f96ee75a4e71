/**
 * The facade's own listeners (`tether.on('connection' | 'undelivered' | 'bus:status')`). A
 * throwing listener is logged and does not stop the others, nor the part that emitted.
 */
export class ServerListeners {
  readonly #listeners = new Map<string, Array<(...args: never[]) => void>>();
  readonly #onThrow: (err: unknown, event: string) => void;

  constructor(onThrow: (err: unknown, event: string) => void) {
    this.#onThrow = onThrow;
  }

  add(event: string, listener: (...args: never[]) => void): void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
  }

  remove(event: string, listener: (...args: never[]) => void): void {
    const list = this.#listeners.get(event)?.filter((l) => l !== listener);
    if (list?.length) this.#listeners.set(event, list);
    else this.#listeners.delete(event);
  }

  has(event: string): boolean {
    return this.#listeners.has(event);
  }

  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#onThrow(err, event);
      }
    }
  }
}
