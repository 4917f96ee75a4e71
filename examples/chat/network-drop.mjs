/**
 * "Simulate a network drop" for the chat demo: cuts one visitor's sockets, like a train entering a
 * tunnel, while everybody else keeps chatting.
 *
 * Each page puts a random `visitor` id in its Tether endpoint URL (`/tether?visitor=…`). The chat
 * server runs Tether in noServer mode and passes every request and upgrade at that path through
 * `admit()` first, which remembers the visitor's TCP sockets. `drop(visitor)` destroys them (no
 * close frame, no `bye`: to the browser it looks exactly like a dead network, close code 1006) and
 * for `durationMs` destroys every new socket that visitor opens, so the client's reconnect attempts
 * fail the way they would offline. Then it lets them through, and the client recovers on its own.
 */

const VISITOR = /^[a-z0-9]{8,40}$/;

/** The visitor id of a request to the Tether endpoint, or undefined. */
export function visitorOf(req) {
  const query = req.url?.split('?')[1];
  if (!query) return undefined;
  const visitor = new URLSearchParams(query).get('visitor');
  return visitor && VISITOR.test(visitor) ? visitor : undefined;
}

export class NetworkDrops {
  /** visitor -> sockets seen carrying that visitor's Tether traffic (closed ones are removed). */
  #sockets = new Map();
  /** visitor -> timer that ends their outage. */
  #outages = new Map();
  #durationMs;

  /** @param {{ durationMs: number }} options - how long a visitor stays cut off. */
  constructor({ durationMs }) {
    this.#durationMs = durationMs;
  }

  get durationMs() {
    return this.#durationMs;
  }

  /**
   * Called for every request or upgrade at the Tether path. Returns false (and destroys the
   * socket) while the request's visitor is cut off.
   */
  admit(req, socket) {
    const visitor = visitorOf(req);
    if (visitor === undefined) return true;
    if (this.#outages.has(visitor)) {
      socket.destroy();
      return false;
    }
    let sockets = this.#sockets.get(visitor);
    if (!sockets) this.#sockets.set(visitor, (sockets = new Set()));
    if (!sockets.has(socket)) {
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        if (sockets.size === 0 && this.#sockets.get(visitor) === sockets) this.#sockets.delete(visitor);
      });
    }
    return true;
  }

  /** How many open sockets of this visitor this server holds. */
  socketCount(visitor) {
    return this.#sockets.get(visitor)?.size ?? 0;
  }

  /**
   * Cuts the visitor off now, for `durationMs`. Returns how many sockets were destroyed.
   * A second drop during an outage starts it over.
   */
  drop(visitor) {
    clearTimeout(this.#outages.get(visitor));
    this.#outages.set(
      visitor,
      setTimeout(() => this.#outages.delete(visitor), this.#durationMs),
    );
    const sockets = [...(this.#sockets.get(visitor) ?? [])];
    this.#sockets.delete(visitor);
    for (const socket of sockets) socket.destroy();
    return sockets.length;
  }

  /** Ends every outage and forgets every socket (the server is closing). */
  close() {
    for (const timer of this.#outages.values()) clearTimeout(timer);
    this.#outages.clear();
    this.#sockets.clear();
  }
}
