import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import { RingBuffer } from './ring-buffer.ts';
import { asArray, asFinite, asPair, asString, fail } from './snapshot-check.ts';
import type { InteractionKind } from './types.ts';

/** One remembered interaction of a user. `weight` is the model's implicit-feedback weight (negative for skips). */
export interface HistoryEntry {
  trackId: string;
  kind: InteractionKind;
  weight: number;
  ts: number;
}

const KIND_CODES: readonly InteractionKind[] = ['play', 'skip', 'like', 'add'];

/**
 * Per-user recent-history rings, bounded twice: `historySize` entries per user (oldest
 * overwritten) and `maxUsers` users (least recently active user evicted first, O(1):
 * lru-cache, whose eviction stays O(1) when full, unlike a Map evicting `keys().next()`).
 */
export class UserHistories {
  readonly historySize: number;
  readonly maxUsers: number;
  #users: LRUCache<string, RingBuffer<HistoryEntry>>;

  constructor(historySize: number, maxUsers: number) {
    positiveInt(historySize, 'historySize');
    positiveInt(maxUsers, 'maxUsers');
    this.historySize = historySize;
    this.maxUsers = maxUsers;
    this.#users = boundedCache(maxUsers);
  }

  get size(): number {
    return this.#users.size;
  }

  /** The user's ring, without refreshing their recency. */
  get(userId: string): RingBuffer<HistoryEntry> | undefined {
    return this.#users.peek(userId);
  }

  /** The user's ring, created (and the LRU user evicted) if needed, moved to most recently active. */
  touch(userId: string): RingBuffer<HistoryEntry> {
    let ring = this.#users.get(userId);
    if (!ring) {
      ring = new RingBuffer<HistoryEntry>(this.historySize);
      this.#users.set(userId, ring);
    }
    return ring;
  }

  /** Drops the user's ring (GDPR erasure); true if there was one. */
  forget(userId: string): boolean {
    return this.#users.delete(userId);
  }

  /** The user's remembered interactions, newest first (GDPR export). */
  entries(userId: string): { trackId: string; kind: InteractionKind; ts: number }[] {
    const ring = this.#users.peek(userId);
    return ring ? [...ring.newestFirst()].map((e) => ({ trackId: e.trackId, kind: e.kind, ts: e.ts })) : [];
  }

  /** Tracks the user played, skipped, liked or added within their history window. */
  heard(userId: string): Set<string> {
    const out = new Set<string>();
    const ring = this.#users.peek(userId);
    if (ring) for (const e of ring.newestFirst()) out.add(e.trackId);
    return out;
  }

  /** Largest ring size over all users (for bound checks). */
  maxRingSize(): number {
    let m = 0;
    for (const r of this.#users.values()) m = Math.max(m, r.size);
    return m;
  }

  /** `[[userId, [[trackId, kindCode, weight, ts], …oldest first]], …least recently active first]`. */
  snapshot(): [string, [string, number, number, number][]][] {
    const out: [string, [string, number, number, number][]][] = [];
    for (const [u, ring] of this.#users.rentries() as Iterable<[string, RingBuffer<HistoryEntry>]>)
      out.push([u, ring.toArray().map((e) => [e.trackId, KIND_CODES.indexOf(e.kind), e.weight, e.ts])]);
    return out;
  }

  /** Parses a `snapshot()` without touching this instance. */
  parse(raw: unknown, path: string): Map<string, RingBuffer<HistoryEntry>> {
    const users = new Map<string, RingBuffer<HistoryEntry>>();
    const list = asArray(raw, path, this.maxUsers);
    list.forEach((u, ui) => {
      const [id, entries] = asPair(u, `${path}[${ui}]`);
      const userId = asString(id, `${path}[${ui}][0]`);
      if (users.has(userId)) fail(`${path}[${ui}]`, `repeats user ${JSON.stringify(userId)}`);
      const ring = new RingBuffer<HistoryEntry>(this.historySize);
      asArray(entries, `${path}[${ui}][1]`, this.historySize).forEach((e, ei) => {
        const p = `${path}[${ui}][1][${ei}]`;
        const a = asArray(e, p);
        if (a.length !== 4) fail(p, 'must be [trackId, kind, weight, ts]');
        const kind = KIND_CODES[a[1] as number];
        if (!Number.isInteger(a[1]) || kind === undefined) fail(`${p}[1]`, 'must be a kind code 0..3');
        ring.push({
          trackId: asString(a[0], `${p}[0]`),
          kind,
          weight: asFinite(a[2], `${p}[2]`),
          ts: asFinite(a[3], `${p}[3]`),
        });
      });
      users.set(userId, ring);
    });
    return users;
  }

  /** Installs the result of `parse` (its order: least recently active first). */
  replace(users: Map<string, RingBuffer<HistoryEntry>>): void {
    const c = boundedCache<string, RingBuffer<HistoryEntry>>(this.maxUsers);
    for (const [u, ring] of users) c.set(u, ring);
    this.#users = c;
  }
}

export function positiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

export function positiveNumber(v: number, name: string): void {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
    throw new RangeError(`${name} must be a positive finite number, got ${v}`);
}
