import type { Writable } from 'node:stream';

/**
 * Corks a socket at its first write in a tick and uncorks every corked socket once, after the
 * current tick's work: all frames a socket gets in one tick leave in one write syscall.
 * On loopback a write costs several µs, so this decides fan-out speed. One batcher serves a
 * whole server, so a broadcast schedules one callback, not one per socket.
 *
 * @example
 * batcher.cork(socket); ws.send(a); ws.send(b); // one write after this tick
 */
export class WriteBatcher {
  #corked: Writable[] = [];
  readonly #flush = () => {
    const corked = this.#corked;
    this.#corked = [];
    for (const socket of corked) socket.uncork();
  };

  cork(socket: Writable): void {
    // writableCorked counts our own cork: 0 means this socket is not yet in this tick's batch.
    if (socket.writableCorked > 0) return;
    socket.cork();
    if (this.#corked.push(socket) === 1) process.nextTick(this.#flush);
  }
}
