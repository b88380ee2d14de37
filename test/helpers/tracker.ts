/**
 * The message tracker for chaos tests. `TrackedSubscriber` speaks raw backbeat.v1 and
 * does what a careful client does: reconnect to another node when its connection dies,
 * resubscribe with `recover` from the last offset it received, drop duplicates, and fill
 * offset gaps from `history`. `Publisher` publishes numbered messages over HTTP to the
 * live nodes and records which ones were acknowledged. `verify()` then checks the
 * guarantee: every acknowledged publication reached every subscriber exactly once, in
 * offset order.
 */
import { WebSocket } from 'ws';

/** The fields of server frames this client reads. */
interface Frame {
  type: string;
  offset: number;
  epoch: string;
  recovered?: boolean;
  code?: number;
  message?: string;
  data: { n: number };
  publications: Array<{ offset: number; data: { n: number } }>;
}

export interface Received {
  offset: number;
  n: number;
}

export class TrackedSubscriber {
  readonly name: string;
  readonly channel: string;
  readonly received: Received[] = [];
  readonly events: string[] = [];
  recoveredFalse = 0;
  reconnects = 0;
  #ws: WebSocket | undefined;
  #urls: () => string[];
  #token: string;
  #offset = -1;
  #epoch = '';
  #id = 1;
  #stopped = false;
  #urlIndex: number;
  #filling = false;

  constructor(opts: { name: string; channel: string; token: string; urls: () => string[]; startAt: number }) {
    this.name = opts.name;
    this.channel = opts.channel;
    this.#token = opts.token;
    this.#urls = opts.urls;
    this.#urlIndex = opts.startAt;
  }

  get lastOffset(): number {
    return this.#offset;
  }

  start(): Promise<void> {
    return this.#connect();
  }

  #connect(): Promise<void> {
    const urls = this.#urls();
    const url = urls[this.#urlIndex % urls.length]!;
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      this.#ws = ws;
      let settled = false;
      const done = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      ws.on('open', () => ws.send(JSON.stringify({ id: this.#id++, type: 'connect', token: this.#token })));
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString()) as Frame;
        if (f.type === 'connected') {
          const sub: Record<string, unknown> = { id: this.#id++, type: 'subscribe', channel: this.channel };
          if (this.#offset >= 0) sub['recover'] = { offset: this.#offset, epoch: this.#epoch };
          ws.send(JSON.stringify(sub));
        } else if (f.type === 'subscribed') {
          if (this.#offset >= 0 && !f.recovered) {
            this.recoveredFalse++;
            this.events.push(`recovered:false at ${this.#offset} on ${url}`);
          }
          this.#epoch = f.epoch;
          if (this.#offset < 0) this.#offset = f.offset;
          for (const p of f.publications) this.#accept(p.offset, p.data.n);
          done();
        } else if (f.type === 'message') {
          if (f.offset > this.#offset + 1 && !this.#filling) this.#fill(ws);
          else this.#accept(f.offset, f.data.n);
        } else if (f.type === 'history') {
          this.#filling = false;
          for (const p of f.publications) this.#accept(p.offset, p.data.n);
        } else if (f.type === 'error') {
          this.events.push(`error ${f.code} ${f.message}`);
        }
      });
      ws.on('close', (code) => {
        this.events.push(`closed ${code} on ${url}`);
        done();
        if (this.#stopped) return;
        this.reconnects++;
        this.#urlIndex++;
        setTimeout(() => void this.#connect(), 50 + Math.random() * 100);
      });
      ws.on('error', () => undefined);
    });
  }

  #fill(ws: WebSocket): void {
    this.#filling = true;
    ws.send(
      JSON.stringify({
        id: this.#id++,
        type: 'history',
        channel: this.channel,
        since: { offset: this.#offset, epoch: this.#epoch },
        limit: 1000,
      }),
    );
  }

  #accept(offset: number, n: number): void {
    if (offset <= this.#offset && this.received.length > 0) return;
    if (offset <= this.#offset) return;
    if (offset !== this.#offset + 1) {
      this.events.push(`gap ${this.#offset} → ${offset}`);
      return; // the history fill delivers it in order
    }
    this.#offset = offset;
    this.received.push({ offset, n });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

export interface Ack {
  n: number;
  offset: number;
}

export class Publisher {
  readonly acked: Ack[] = [];
  attempts = 0;
  failures = 0;
  #n = 0;
  #stopped = false;
  #running: Promise<void> | undefined;

  readonly opts: { channel: string; token: string; urls: () => string[]; intervalMs: number };

  constructor(opts: { channel: string; token: string; urls: () => string[]; intervalMs: number }) {
    this.opts = opts;
  }

  start(): void {
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    let i = 0;
    while (!this.#stopped) {
      const urls = this.opts.urls();
      const url = urls[i++ % urls.length]!;
      const n = ++this.#n;
      this.attempts++;
      try {
        const r = await fetch(`${url}/v1/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.opts.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: this.opts.channel, data: { n } }),
          signal: AbortSignal.timeout(3000),
        });
        if (r.ok) this.acked.push({ n, offset: ((await r.json()) as { offset: number }).offset });
        else this.failures++;
      } catch {
        this.failures++;
      }
      await new Promise((r) => setTimeout(r, this.opts.intervalMs));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }
}

/** Every acknowledged publication at or after the subscriber's start reached it once, in order. */
export function verify(
  sub: TrackedSubscriber,
  acked: Ack[],
): { missing: Ack[]; duplicates: number; outOfOrder: number } {
  const first = sub.received[0]?.offset ?? Infinity;
  const byOffset = new Map(sub.received.map((r) => [r.offset, r.n]));
  const missing = acked.filter((a) => a.offset >= first && byOffset.get(a.offset) !== a.n);
  const offsets = sub.received.map((r) => r.offset);
  let outOfOrder = 0;
  for (let i = 1; i < offsets.length; i++) if (offsets[i] !== offsets[i - 1]! + 1) outOfOrder++;
  const duplicates = offsets.length - new Set(offsets).size;
  return { missing, duplicates, outOfOrder };
}
