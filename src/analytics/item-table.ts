/**
 * Per-item trending state of one entity (tracks or artists), in flat typed arrays indexed
 * by slot — no object per item besides its id, no allocation per event:
 * - play counts in three rings of time buckets (1h: 12 × 5 min, 24h: 24 × 1 h,
 *   7d: 28 × 6 h), with the newest bucket index per ring;
 * - six forward-decayed sums (a short and a long half-life per window, see trending.ts),
 *   and the same six summed over every item (`totals`, anonymous);
 *   heads, sums and counts of a slot sit together in one 328-byte record (one slab), so
 *   an event touches few cache lines;
 * - unique listeners in three rings of HyperLogLog registers (1h: 4 × 15 min, 24h: 4 × 6 h,
 *   7d: 7 × 1 day): 2^p registers of 4 bits per bucket, packed in a second slab (ranks are
 *   capped at 15, which matters only past ~2^15 listeners per register). No sketch object
 *   per bucket: an object per item and bucket cost more in allocation and GC than the
 *   whole fold. A query merges a window's buckets (register-wise max) and estimates with
 *   the streaming library's HyperLogLog (the same registers give the same estimate).
 *
 * Bounded: at most `maxItems` ids are kept. The table may grow to 1.5 × maxItems; then it
 * keeps the `maxItems` whose best share of any window's short-term mass is largest (an
 * item rising in the last hour outranks one that was big last week): an O(n) pass
 * (quickselect) every maxItems / 2 new items, O(1) amortized per new item.
 */
import { HyperLogLog } from '../streaming/index.ts';

const HOUR = 3_600_000;
/** Bucket length (ms), bucket count and offset of the play-count rings, per window (1h, 24h, 7d). */
export const COUNT_RINGS = [
  { bucketMs: 5 * 60_000, buckets: 12, offset: 0 },
  { bucketMs: HOUR, buckets: 24, offset: 12 },
  { bucketMs: 6 * HOUR, buckets: 28, offset: 36 },
] as const;
/** The listener (HyperLogLog) rings, per window. */
export const LISTENER_RINGS = [
  { bucketMs: 15 * 60_000, buckets: 4, offset: 0 },
  { bucketMs: 6 * HOUR, buckets: 4, offset: 4 },
  { bucketMs: 24 * HOUR, buckets: 7, offset: 8 },
] as const;
/** Decayed sums per slot: [short, long] × 3 windows. */
export const SUMS = 6;
const LISTENERS = 15;
const MAX_RANK = 15;
// One record per slot, in 32-bit words: heads (3 count rings, 3 listener rings), 6 sums
// (float64: 12 words), 64 counts.
const HEADS_AT = 0;
const SUMS_AT = 6; // word offset; float64 index = slot * RECORD / 2 + 3
const COUNTS_AT = 18;
const RECORD = 82;
const INITIAL = 64;
const NO_BUCKET = -1;

/** The bucket indexes and decay weights of one event time, computed once per event. */
export interface Prepared {
  /** Bucket index per ring: counts 0..2, listeners 3..5. */
  readonly buckets: Int32Array;
  readonly weights: Float64Array;
}

export interface ItemTableSnapshot {
  maxItems: number;
  precision: number;
  capacity: number;
  index: Array<[string, number]>;
  free: number[];
  words: Int32Array;
  regs: Uint8Array;
  totals: Float64Array;
  evicted: number;
}

export class ItemTable {
  readonly maxItems: number;
  readonly #limit: number;
  readonly #precision: number;
  /** Bytes per listener bucket (2^p / 2). */
  readonly #bucketBytes: number;
  readonly #index = new Map<string, number>();
  #free: number[] = [];
  #capacity = 0;
  /** The records (see RECORD), as 32-bit integers and as float64 (the sums). */
  #words = new Int32Array(0);
  #floats = new Float64Array(0);
  /** Listener registers: slot × LISTENERS buckets × 2^p 4-bit registers. */
  #regs = new Uint8Array(0);
  /** Decayed sums over every item, anonymous. */
  readonly totals = new Float64Array(SUMS);
  /** Items dropped by pruning since start. */
  evicted = 0;

  constructor(maxItems: number, precision: number) {
    this.maxItems = Math.max(1, maxItems);
    this.#limit = Math.ceil(this.maxItems * 1.5);
    this.#precision = precision;
    this.#bucketBytes = (1 << precision) >>> 1;
    this.#grow(Math.min(INITIAL, this.#limit));
  }

  get size(): number {
    return this.#index.size;
  }

  slotOf(id: string): number | undefined {
    return this.#index.get(id);
  }

  /** Counts a play of `id` (anonymous: counts and decayed sums). Returns the item's slot. */
  addPlay(id: string, p: Prepared): number {
    const slot = this.#index.get(id) ?? this.#insert(id);
    const words = this.#words;
    const rec = slot * RECORD;
    const b = p.buckets;
    for (let w = 0; w < 3; w++) {
      const ring = COUNT_RINGS[w]!;
      const n = ring.buckets;
      const base = rec + COUNTS_AT + ring.offset;
      const bucket = b[w]!;
      const head = words[rec + HEADS_AT + w]!;
      if (bucket > head) {
        // A fresh slot is all zeros already.
        if (head !== NO_BUCKET) {
          const clear = Math.min(n, bucket - head);
          for (let k = 1; k <= clear; k++) words[base + ((bucket - clear + k) % n)] = 0;
        }
        words[rec + HEADS_AT + w] = bucket;
      } else if (bucket <= head - n) continue; // older than the ring
      words[base + (bucket % n)]!++;
    }
    const f = this.#floats;
    const s = (rec + SUMS_AT) >>> 1;
    const weights = p.weights;
    const totals = this.totals;
    for (let j = 0; j < SUMS; j++) {
      f[s + j]! += weights[j]!;
      totals[j]! += weights[j]!;
    }
    return slot;
  }

  /** Adds a listener (64-bit hash hi:lo) to the item's listener rings. */
  addListener(slot: number, p: Prepared, hi: number, lo: number): void {
    const precision = this.#precision;
    const idx = hi >>> (32 - precision);
    const w = hi << precision;
    const rank = Math.min(MAX_RANK, w !== 0 ? Math.clz32(w) + 1 : 32 - precision + Math.clz32(lo) + 1);
    const bytes = this.#bucketBytes;
    const regs = this.#regs;
    const words = this.#words;
    const rec = slot * RECORD;
    const b = p.buckets;
    for (let r = 0; r < 3; r++) {
      const ring = LISTENER_RINGS[r]!;
      const n = ring.buckets;
      const base = (slot * LISTENERS + ring.offset) * bytes;
      const bucket = b[3 + r]!;
      const head = words[rec + HEADS_AT + 3 + r]!;
      if (bucket > head) {
        if (head !== NO_BUCKET) {
          const clear = Math.min(n, bucket - head);
          for (let k = 1; k <= clear; k++) {
            const at = base + ((bucket - clear + k) % n) * bytes;
            regs.fill(0, at, at + bytes);
          }
        }
        words[rec + HEADS_AT + 3 + r] = bucket;
      } else if (bucket <= head - n) continue;
      const at = base + (bucket % n) * bytes + (idx >>> 1);
      const v = regs[at]!;
      if (idx & 1) {
        if (rank > v >>> 4) regs[at] = (v & 0x0f) | (rank << 4);
      } else if (rank > (v & 0x0f)) regs[at] = (v & 0xf0) | rank;
    }
  }

  /** Plays of the item in window `w` (its buckets up to `nowBucket`). */
  plays(slot: number, w: number, nowBucket: number): number {
    const ring = COUNT_RINGS[w]!;
    const rec = slot * RECORD;
    const head = this.#words[rec + HEADS_AT + w]!;
    const from = Math.max(nowBucket, head) - ring.buckets + 1;
    const to = Math.min(nowBucket, head);
    let n = 0;
    for (let k = from; k <= to; k++) n += this.#words[rec + COUNTS_AT + ring.offset + (k % ring.buckets)]!;
    return n;
  }

  /** Distinct listeners of the item in window `w` (HyperLogLog estimate, rounded). */
  listeners(slot: number, w: number, nowBucket: number): number {
    const ring = LISTENER_RINGS[w]!;
    const head = this.#words[slot * RECORD + HEADS_AT + 3 + w]!;
    const from = Math.max(nowBucket, head) - ring.buckets + 1;
    const to = Math.min(nowBucket, head);
    if (from > to) return 0;
    const bytes = this.#bucketBytes;
    const merged = new Uint8Array(bytes * 2);
    for (let k = from; k <= to; k++) {
      const at = (slot * LISTENERS + ring.offset + (k % ring.buckets)) * bytes;
      for (let i = 0; i < bytes; i++) {
        const v = this.#regs[at + i]!;
        if ((v & 0x0f) > merged[2 * i]!) merged[2 * i] = v & 0x0f;
        if (v >>> 4 > merged[2 * i + 1]!) merged[2 * i + 1] = v >>> 4;
      }
    }
    return Math.round(
      HyperLogLog.fromJSON({
        p: this.#precision,
        d: Buffer.from(merged.buffer).toString('base64'),
      }).estimate(),
    );
  }

  /** Decayed sum j of a slot (as of the landmark). */
  sum(slot: number, j: number): number {
    return this.#floats[((slot * RECORD + SUMS_AT) >>> 1) + j]!;
  }

  /** Live [id, slot] pairs. */
  entries(): IterableIterator<[string, number]> {
    return this.#index.entries();
  }

  /** Multiplies every decayed sum j by factors[j] (the landmark moved). */
  rescale(factors: Float64Array): void {
    for (let slot = 0; slot < this.#capacity; slot++) {
      const s = (slot * RECORD + SUMS_AT) >>> 1;
      for (let j = 0; j < SUMS; j++) this.#floats[s + j]! *= factors[j]!;
    }
    for (let j = 0; j < SUMS; j++) this.totals[j]! *= factors[j]!;
  }

  /** Approximate heap bytes: the slabs, ids and index. */
  approxBytes(): number {
    let bytes = this.#capacity * (RECORD * 4 + LISTENERS * this.#bucketBytes + 8);
    for (const [id] of this.#index) bytes += 80 + id.length * 2;
    return bytes;
  }

  /** The table as it is (stream snapshots; serialize before the next event). */
  snapshot(): ItemTableSnapshot {
    return {
      maxItems: this.maxItems,
      precision: this.#precision,
      capacity: this.#capacity,
      index: [...this.#index],
      free: this.#free,
      words: this.#words,
      regs: this.#regs,
      totals: this.totals,
      evicted: this.evicted,
    };
  }

  /** Checks a `snapshot()` against this table; returns what puts it in place (nothing changes before). */
  prepareRestore(v: unknown): () => void {
    const fail = (what: string): never => {
      throw new TypeError(`analytics item table snapshot: ${what}`);
    };
    const s = (typeof v === 'object' && v !== null ? v : fail('not an object')) as ItemTableSnapshot;
    if (s.maxItems !== this.maxItems || s.precision !== this.#precision)
      fail(
        `made for ${s.maxItems} items at precision ${s.precision}, not ${this.maxItems} at ${this.#precision}`,
      );
    const cap = s.capacity;
    if (!Number.isSafeInteger(cap) || cap < 0 || cap > this.#limit) fail('bad capacity');
    if (!(s.words instanceof Int32Array) || s.words.length !== cap * RECORD) fail('bad record slab');
    if (!(s.regs instanceof Uint8Array) || s.regs.length !== cap * LISTENERS * this.#bucketBytes)
      fail('bad listener slab');
    if (!(s.totals instanceof Float64Array) || s.totals.length !== SUMS) fail('bad totals');
    if (!Number.isSafeInteger(s.evicted) || s.evicted < 0) fail('bad evicted count');
    const used = new Set<number>();
    const index = new Map<string, number>();
    if (!Array.isArray(s.index)) fail('bad index');
    for (const e of s.index) {
      const [id, slot] = Array.isArray(e) ? e : fail('bad index entry');
      if (typeof id !== 'string' || !Number.isSafeInteger(slot) || slot < 0 || slot >= cap || used.has(slot))
        fail('bad index entry');
      used.add(slot);
      index.set(id, slot);
    }
    if (!Array.isArray(s.free) || s.free.length + used.size !== cap) fail('bad free list');
    for (const slot of s.free) {
      if (!Number.isSafeInteger(slot) || slot < 0 || slot >= cap || used.has(slot)) fail('bad free list');
      used.add(slot);
    }
    return () => {
      const words = new Int32Array(cap * RECORD);
      words.set(s.words);
      this.#words = words;
      this.#floats = new Float64Array(words.buffer);
      // A copy (slice: one memcpy; `Uint8Array.from` walks an iterator per byte): the
      // deserialized array is a view into the whole snapshot file's buffer.
      this.#regs = s.regs.slice();
      this.#capacity = cap;
      this.#index.clear();
      for (const [id, slot] of index) this.#index.set(id, slot);
      this.#free = [...s.free];
      this.totals.set(s.totals);
      this.evicted = s.evicted;
    };
  }

  #insert(id: string): number {
    if (this.#index.size >= this.#limit) this.prune();
    let slot = this.#free.pop();
    if (slot === undefined) {
      this.#grow(Math.min(this.#limit, this.#capacity * 2));
      slot = this.#free.pop()!;
    }
    this.#index.set(id, slot);
    return slot;
  }

  /** Keeps the `maxItems` items with the largest share of any window's short-term mass. */
  prune(): void {
    const n = this.#index.size;
    if (n <= this.maxItems) return;
    const priority = new Float64Array(this.#capacity).fill(-1);
    for (const slot of this.#index.values()) priority[slot] = this.#priority(slot);
    const threshold = kthSmallest(
      Float64Array.from(this.#index.values(), (slot) => priority[slot]!),
      n - this.maxItems,
    );
    let drop = n - this.maxItems;
    // Strictly below the threshold first, then ties, until `drop` are gone.
    for (const pass of [0, 1]) {
      for (const [id, slot] of this.#index) {
        if (drop === 0) break;
        const pr = priority[slot]!;
        if (pass === 0 ? pr < threshold : pr === threshold) {
          this.#release(id, slot);
          drop--;
        }
      }
    }
  }

  #priority(slot: number): number {
    let best = 0;
    const s = (slot * RECORD + SUMS_AT) >>> 1;
    for (let w = 0; w < 3; w++) {
      const total = this.totals[2 * w]!;
      if (total > 0) best = Math.max(best, this.#floats[s + 2 * w]! / total);
    }
    return best;
  }

  #release(id: string, slot: number): void {
    this.#index.delete(id);
    this.#words.fill(0, slot * RECORD, (slot + 1) * RECORD);
    this.#words.fill(NO_BUCKET, slot * RECORD + HEADS_AT, slot * RECORD + HEADS_AT + 6);
    this.#regs.fill(0, slot * LISTENERS * this.#bucketBytes, (slot + 1) * LISTENERS * this.#bucketBytes);
    this.#free.push(slot);
    this.evicted++;
  }

  #grow(capacity: number): void {
    const old = this.#capacity;
    if (capacity <= old) return;
    const buffer = new ArrayBuffer(capacity * RECORD * 4);
    const words = new Int32Array(buffer);
    words.set(this.#words);
    for (let slot = old; slot < capacity; slot++)
      words.fill(NO_BUCKET, slot * RECORD + HEADS_AT, slot * RECORD + HEADS_AT + 6);
    this.#words = words;
    this.#floats = new Float64Array(buffer);
    const regs = new Uint8Array(capacity * LISTENERS * this.#bucketBytes);
    regs.set(this.#regs);
    this.#regs = regs;
    for (let s = capacity - 1; s >= old; s--) this.#free.push(s);
    this.#capacity = capacity;
  }
}

/** The k-th smallest value (0-based) of `a`, which it reorders: quickselect (Hoare partition, median of three). */
export function kthSmallest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot value.
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
