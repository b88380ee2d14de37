import type { Socket } from 'node:net';

/**
 * Write coalescing: the first frame queued to a socket in an event-loop turn corks it;
 * one `setImmediate` uncorks every corked socket, so each socket gets one `writev` per
 * turn however many frames fan-out gave it. This is what makes fan-out to thousands of
 * sockets cheap (measured ~2× a plain `ws` loop; see bench/).
 */
export class CorkScheduler {
  #dirty: Socket[] = [];
  #scheduled = false;
  readonly #flush = (): void => {
    const dirty = this.#dirty;
    this.#dirty = [];
    this.#scheduled = false;
    for (const s of dirty) if (s.writableCorked > 0) s.uncork();
  };

  /** Corks `socket` until the end of this turn (idempotent within a turn). */
  cork(socket: Socket): void {
    if (socket.writableCorked > 0) return;
    socket.cork();
    this.#dirty.push(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }
}
