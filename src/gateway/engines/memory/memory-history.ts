import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../../core/time/index.ts';
import type { History, HistoryPage, HistoryQuery, Publication, StreamPosition } from '../ports.ts';

export interface MemoryHistoryOptions {
  clock: Clock;
  /** Publications kept per channel. @default 100 */
  size: number;
  /** Publication lifetime in ms; 0 keeps them until pushed out by `size`. @default 300000 */
  ttlMs: number;
  /** How long an idle channel's offset and epoch outlive its last publication. @default 86400000 */
  metaTtlMs: number;
}

interface Stream {
  epoch: string;
  top: number;
  /** Oldest first; bounded by `size`. */
  items: Publication[];
  /** Index of the oldest live item in `items` (items before it are evicted but not yet compacted). */
  head: number;
  lastUsed: number;
}

const newEpoch = (): string => randomBytes(6).toString('base64url');

/**
 * In-memory history: one bounded array per channel, evicted by size and TTL. A new
 * process (or an idle channel past `metaTtlMs`) starts a new epoch, which is exactly
 * what lets a client tell "nothing missed" from "history gone".
 */
export class MemoryHistory implements History {
  readonly #streams = new Map<string, Stream>();
  readonly #opts: MemoryHistoryOptions;
  readonly #sweep: TimerHandle;

  constructor(opts: MemoryHistoryOptions) {
    this.#opts = opts;
    this.#sweep = opts.clock.setInterval(
      () => this.sweep(),
      Math.min(60_000, Math.max(1000, opts.metaTtlMs / 4)),
    );
  }

  async append(
    channel: string,
    pub: Omit<Publication, 'offset'>,
  ): Promise<{ publication: Publication; epoch: string }> {
    return this.appendSync(channel, pub);
  }

  /** Synchronous append for in-process callers (the memory broker path). */
  appendSync(channel: string, pub: Omit<Publication, 'offset'>): { publication: Publication; epoch: string } {
    const s = this.#stream(channel);
    const publication: Publication = { ...pub, offset: ++s.top };
    if (this.#opts.size > 0) {
      s.items.push(publication);
      if (s.items.length - s.head > this.#opts.size) s.head++;
      if (s.head > 64 && s.head * 2 > s.items.length) {
        s.items = s.items.slice(s.head);
        s.head = 0;
      }
    }
    return { publication, epoch: s.epoch };
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    const s = this.#stream(channel);
    this.#expire(s);
    const position: StreamPosition = { offset: s.top, epoch: s.epoch };
    const live = s.items.length - s.head;
    const limit = Math.max(0, query.limit);
    if (!query.since) {
      const start = Math.max(s.head, s.items.length - limit);
      return { position, publications: limit === 0 ? [] : s.items.slice(start), complete: true };
    }
    const { offset, epoch } = query.since;
    if (epoch !== s.epoch || offset > s.top) {
      // Another history: the caller's position means nothing here. Offer the oldest kept.
      return { position, publications: s.items.slice(s.head, s.head + limit), complete: false };
    }
    const oldest = live > 0 ? s.items[s.head]!.offset : s.top + 1;
    const missing = s.top - offset;
    const startIdx = s.head + Math.max(0, offset + 1 - oldest);
    const publications = s.items.slice(startIdx, startIdx + limit);
    const complete = oldest <= offset + 1 && missing <= limit;
    return { position, publications, complete };
  }

  async position(channel: string): Promise<StreamPosition> {
    const s = this.#stream(channel);
    return { offset: s.top, epoch: s.epoch };
  }

  async remove(channel: string): Promise<void> {
    this.#streams.delete(channel);
  }

  async close(): Promise<void> {
    this.#sweep.cancel();
    this.#streams.clear();
  }

  /** Drops expired publications and forgets idle channels; runs on an interval. */
  sweep(): void {
    const now = this.#opts.clock.now();
    for (const [ch, s] of this.#streams) {
      this.#expire(s);
      if (s.items.length === s.head && now - s.lastUsed > this.#opts.metaTtlMs) this.#streams.delete(ch);
    }
  }

  #stream(channel: string): Stream {
    const now = this.#opts.clock.now();
    let s = this.#streams.get(channel);
    if (s === undefined || (s.items.length === s.head && now - s.lastUsed > this.#opts.metaTtlMs)) {
      s = { epoch: newEpoch(), top: 0, items: [], head: 0, lastUsed: now };
      this.#streams.set(channel, s);
    }
    s.lastUsed = now;
    return s;
  }

  #expire(s: Stream): void {
    if (this.#opts.ttlMs <= 0) return;
    const cutoff = this.#opts.clock.now() - this.#opts.ttlMs;
    while (s.head < s.items.length && s.items[s.head]!.ts <= cutoff) s.head++;
    if (s.head === s.items.length && s.head > 0) {
      s.items = [];
      s.head = 0;
    }
  }
}
