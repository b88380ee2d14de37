import type { Socket } from 'node:net';
import * as ws from 'ws';

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

interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
/** ws's own frame encoder (`Sender.frame`: exported by ws, not declared by @types/ws). */
const { Sender } = ws as unknown as {
  Sender: { frame(this: void, data: Buffer, o: FrameOptions): Buffer[] };
};
/** A final, unmasked (server → client, RFC 6455 §5.1), uncompressed text frame. */
const TEXT: FrameOptions = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false };

/**
 * One outgoing message encoded for the wire once: the WebSocket frame bytes (header and
 * payload in one buffer), the same for every recipient, since server frames are never
 * masked and the gateway negotiates no compression. Fan-out writes these bytes to each
 * subscriber's socket instead of framing the payload again per subscriber (`ws.send`
 * builds a header, an options object and two socket writes for every call).
 */
export class WireFrame {
  /** The frame as written to sockets. */
  readonly bytes: Buffer;
  /** Length of the JSON payload (what `backbeat_gateway_bytes_out_total` counts). */
  readonly payloadBytes: number;

  constructor(payload: Buffer) {
    const parts = Sender.frame(payload, TEXT);
    this.bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.payloadBytes = payload.length;
  }
}
