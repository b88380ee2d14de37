import type { Socket } from 'node:net';
import * as ws from 'ws';

/**
 * Write coalescing, adaptive per socket. A socket that had no frame in the previous
 * event-loop turn with writes ("cold": a chat room that gets a message now and then) is
 * written straight through, like a plain `ws` send: its frame reaches the kernel at once,
 * not after the rest of the turn's work. A socket that gets a second frame in the same
 * turn, or frames turn after turn ("hot": a busy fan-out channel), is corked, and one
 * `setImmediate` per turn uncorks every corked socket, so it gets one `writev` per turn
 * however many frames fan-out gave it. Corking is what makes fan-out to thousands of
 * sockets cheap (measured ~2× a plain `ws` loop; see bench/); writing cold sockets
 * through is what keeps a quiet room's latency at a plain `ws` send's (bench: rooms p99).
 */
export class CorkScheduler {
  #dirty: Socket[] = [];
  #scheduled = false;
  /** Event-loop turns with writes, counted by each flush; from 2, so that 0 ("never") is cold. */
  #turn = 2;
  readonly #flush = (): void => {
    const dirty = this.#dirty;
    this.#dirty = [];
    this.#scheduled = false;
    this.#turn++;
    for (const s of dirty) if (s.writableCorked > 0) s.uncork();
  };

  /**
   * Before writing a frame to `socket`, whose previous frame went out in turn `lastTurn`
   * (0: never): corks it when it is hot, and returns the turn to remember for it.
   */
  prepare(socket: Socket, lastTurn: number): number {
    const turn = this.#turn;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    if (lastTurn >= turn - 1 && socket.writableCorked === 0) {
      socket.cork();
      this.#dirty.push(socket);
    }
    return turn;
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

  /** `payload`: the JSON text, as a string (encoded straight into the frame) or as bytes. */
  constructor(payload: Buffer | string) {
    if (typeof payload === 'string') {
      // Header and UTF-8 payload written into one buffer: no intermediate payload copy.
      const len = Buffer.byteLength(payload);
      const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
      const bytes = Buffer.allocUnsafe(head + len);
      bytes[0] = 0x81; // FIN + text
      if (head === 2) bytes[1] = len;
      else if (head === 4) {
        bytes[1] = 126;
        bytes[2] = len >>> 8;
        bytes[3] = len & 0xff;
      } else {
        bytes[1] = 127;
        bytes.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
        bytes.writeUInt32BE(len >>> 0, 6);
      }
      bytes.write(payload, head, len, 'utf8');
      this.bytes = bytes;
      this.payloadBytes = len;
      return;
    }
    const parts = Sender.frame(payload, TEXT);
    this.bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.payloadBytes = payload.length;
  }
}
