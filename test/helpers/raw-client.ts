/**
 * A raw backbeat.v1 client over plain `ws` for conformance tests: sends JSON frames,
 * records every frame received in order, and waits for replies, pushes and the close.
 * Deliberately not the SDK: these tests check the wire, not our client.
 */
import { WebSocket, type ClientOptions } from 'ws';

export type Frame = Record<string, unknown> & { type?: string; id?: number };

export class RawClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #nextId = 1;
  #waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void; from: number }> = [];

  constructor(url: string, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
      );
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.ws.on('message', (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString()) as Frame;
      } catch {
        f = { type: '__non_json__', raw: data.toString() };
      }
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => {
        if (w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
    this.ws.on('error', () => undefined);
  }

  static async open(url: string, options?: ClientOptions): Promise<RawClient> {
    const c = new RawClient(url, options);
    await c.opened;
    return c;
  }

  /** Opens and sends `connect`; resolves with the `connected` reply (throws on error). */
  static async connect(url: string, token: string, extra: Record<string, unknown> = {}): Promise<RawClient> {
    const c = await RawClient.open(url);
    const r = await c.request({ type: 'connect', token, ...extra });
    if (r.type !== 'connected') throw new Error(`connect failed: ${JSON.stringify(r)}`);
    return c;
  }

  nextId(): number {
    return this.#nextId++;
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  send(cmd: Frame): void {
    this.ws.send(JSON.stringify(cmd));
  }

  /** Sends a command with a fresh id (unless it has one) and resolves with its reply. */
  async request(cmd: Frame, timeoutMs = 5000): Promise<Frame> {
    const id = cmd.id ?? this.nextId();
    const reply = this.waitFor((f) => f.id === id, timeoutMs, `reply to ${String(cmd.type)} #${id}`);
    this.send({ ...cmd, id });
    return reply;
  }

  /** Resolves with the first frame (already received or future) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000, what = 'frame', fromIndex = 0): Promise<Frame> {
    const seen = this.frames.slice(fromIndex).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`)),
        timeoutMs,
      );
      this.#waiters.push({ pred, from: fromIndex, resolve: (f) => (clearTimeout(t), resolve(f)) });
    });
  }

  /** Frames of one type received so far. */
  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 1000))]);
    this.ws.terminate();
  }
}
