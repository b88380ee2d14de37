/**
 * Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi 2005) with a bounded number of
 * counters (`capacity`). Each monitored item has a count and an error; an unmonitored item
 * takes over a counter with the smallest count c_min (count = c_min + weight, error =
 * c_min). Guarantees, with N the total weight added:
 * - count − error ≤ true count ≤ count, and error ≤ c_min ≤ N / capacity;
 * - every item whose true count exceeds N / capacity is monitored;
 * - with at most `capacity` distinct items, counts are exact (error 0).
 *
 * Memory is bounded by `capacity` counters: a few typed-array slots each (allocated on
 * demand, doubling) plus an open-addressing index with ≤ 4 slots per counter.
 *
 * Cost O(1) per unit-weight update, as in the paper's Stream-Summary: counters with equal
 * counts share a bucket, buckets form a list sorted by count, and an increment moves a
 * counter to the next bucket (or bumps a singleton bucket in place). Everything lives in
 * typed arrays, and the item index is our own hash table (linear probing, backward-shift
 * deletion) — on skewed streams most events replace the minimum counter, and both a heap
 * sift from the root and Map delete+set on every replacement measured far slower.
 *
 * `merge()` combines two summaries the mergeable Space-Saving way: an item missing from a
 * full summary is credited that summary's c_min as both count and error, then the
 * `capacity` largest counts are kept. The bounds above still hold with N the summed total.
 */
import { hash30 } from './hash.ts';

export interface TopKEntry<T> {
  item: T;
  /** Estimated count (an upper bound on the true count). */
  count: number;
  /** Maximum overestimation: the true count is at least count − error. */
  error: number;
}

export interface SpaceSavingJson<T> {
  capacity: number;
  total: number;
  /** [item, count, error] */
  entries: [T, number, number][];
}

const INITIAL = 8;
const NONE = -1;

export class SpaceSaving<T extends string | number> {
  readonly capacity: number;
  #size = 0;
  #total = 0;
  // Counters (by slot).
  #items: T[] = [];
  #hashes: Int32Array;
  #errors: Float64Array;
  #bucketOf: Int32Array;
  #next: Int32Array;
  #prev: Int32Array;
  // Buckets (by id): count, first counter, neighbours in count order. Free ids chain through bNext.
  #bCount: Float64Array;
  #bFirst: Int32Array;
  #bNext: Int32Array;
  #bPrev: Int32Array;
  #bUsed = 0;
  #bFree = NONE;
  /** Bucket with the smallest count. */
  #head = NONE;
  // Index: slot + 1, 0 = empty.
  #table: Int32Array;
  #mask: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`Space-Saving capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    const n = Math.min(capacity, INITIAL);
    this.#hashes = new Int32Array(n);
    this.#errors = new Float64Array(n);
    this.#bucketOf = new Int32Array(n);
    this.#next = new Int32Array(n);
    this.#prev = new Int32Array(n);
    this.#bCount = new Float64Array(n);
    this.#bFirst = new Int32Array(n);
    this.#bNext = new Int32Array(n);
    this.#bPrev = new Int32Array(n);
    this.#table = new Int32Array(tableSize(n));
    this.#mask = this.#table.length - 1;
  }

  /** Total weight added (N). */
  get total(): number {
    return this.#total;
  }

  /** Number of monitored items. */
  get size(): number {
    return this.#size;
  }

  /** The smallest monitored count when full (the error bound for newcomers), else 0. */
  get minCount(): number {
    return this.#size < this.capacity ? 0 : this.#bCount[this.#head]!;
  }

  add(item: T, weight = 1): void {
    this.#total += weight;
    const h = hash30(item);
    const slot = this.#find(item, h);
    if (slot >= 0) {
      this.#bump(slot, weight);
      return;
    }
    if (this.#size < this.capacity) {
      const s = this.#newSlot(item, h, 0);
      this.#place(s, weight, NONE);
      return;
    }
    // Replace a counter of the minimum bucket.
    const b = this.#head;
    const victim = this.#bFirst[b]!;
    const min = this.#bCount[b]!;
    this.#unlink(victim);
    this.#hashes[victim] = h;
    this.#link(victim, h);
    this.#items[victim] = item;
    this.#errors[victim] = min;
    this.#bump(victim, weight);
  }

  // ---- index -------------------------------------------------------------------------

  /** The slot holding `item` (hash h), or −1. */
  #find(item: T, h: number): number {
    const table = this.#table;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = table[i]!;
      if (e === 0) return -1;
      const s = e - 1;
      if (this.#hashes[s] === h && this.#items[s] === item) return s;
    }
  }

  #link(slot: number, h: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = h & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Removes `slot` from the index (linear probing, backward-shift deletion). */
  #unlink(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#hashes[slot]! & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = table[j]!;
      if (e === 0) break;
      const k = this.#hashes[e - 1]! & mask; // home of the entry at j
      // Move it into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        table[i] = e;
        i = j;
      }
    }
    table[i] = 0;
  }

  // ---- stream summary ----------------------------------------------------------------

  #newSlot(item: T, h: number, error: number): number {
    const s = this.#size++;
    if (s >= this.#hashes.length) this.#grow();
    this.#items[s] = item;
    this.#hashes[s] = h;
    this.#errors[s] = error;
    this.#link(s, h);
    return s;
  }

  /** Adds `w` to the count of counter `s`. */
  #bump(s: number, w: number): void {
    const b = this.#bucketOf[s]!;
    const c = this.#bCount[b]! + w;
    if (this.#bFirst[b] === s && this.#next[s] === NONE) {
      const nb = this.#bNext[b]!;
      if (nb === NONE || this.#bCount[nb]! > c) {
        this.#bCount[b] = c; // alone in its bucket, and the order holds: bump in place
        return;
      }
    }
    this.#place(s, c, this.#detach(s));
  }

  /** Takes `s` out of its bucket; returns the bucket to search forward from (NONE = head). */
  #detach(s: number): number {
    const b = this.#bucketOf[s]!;
    const p = this.#prev[s]!;
    const n = this.#next[s]!;
    if (p === NONE) this.#bFirst[b] = n;
    else this.#next[p] = n;
    if (n !== NONE) this.#prev[n] = p;
    if (this.#bFirst[b] !== NONE) return b;
    // The bucket is empty: unlink and free it.
    const bp = this.#bPrev[b]!;
    const bn = this.#bNext[b]!;
    if (bp === NONE) this.#head = bn;
    else this.#bNext[bp] = bn;
    if (bn !== NONE) this.#bPrev[bn] = bp;
    this.#bNext[b] = this.#bFree;
    this.#bFree = b;
    return bp;
  }

  /** Puts counter `s` into the bucket of count `c`, searching forward from bucket `after`. */
  #place(s: number, c: number, after: number): void {
    let prev = after;
    let t = after === NONE ? this.#head : this.#bNext[after]!;
    while (t !== NONE && this.#bCount[t]! < c) {
      prev = t;
      t = this.#bNext[t]!;
    }
    if (prev !== NONE && this.#bCount[prev] === c) t = prev;
    else if (t === NONE || this.#bCount[t] !== c) {
      // A new bucket between prev and t.
      let nb = this.#bFree;
      if (nb !== NONE) this.#bFree = this.#bNext[nb]!;
      else nb = this.#bUsed++;
      this.#bCount[nb] = c;
      this.#bFirst[nb] = NONE;
      this.#bPrev[nb] = prev;
      this.#bNext[nb] = t;
      if (prev === NONE) this.#head = nb;
      else this.#bNext[prev] = nb;
      if (t !== NONE) this.#bPrev[t] = nb;
      t = nb;
    }
    const first = this.#bFirst[t]!;
    this.#bucketOf[s] = t;
    this.#prev[s] = NONE;
    this.#next[s] = first;
    if (first !== NONE) this.#prev[first] = s;
    this.#bFirst[t] = s;
  }

  #grow(): void {
    const n = Math.min(this.capacity, this.#hashes.length * 2);
    const i32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    const f64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.#hashes = i32(this.#hashes);
    this.#errors = f64(this.#errors);
    this.#bucketOf = i32(this.#bucketOf);
    this.#next = i32(this.#next);
    this.#prev = i32(this.#prev);
    this.#bCount = f64(this.#bCount);
    this.#bFirst = i32(this.#bFirst);
    this.#bNext = i32(this.#bNext);
    this.#bPrev = i32(this.#bPrev);
    this.#table = new Int32Array(tableSize(n));
    this.#mask = this.#table.length - 1;
    for (let s = 0; s < this.#size - 1; s++) this.#link(s, this.#hashes[s]!);
  }

  // ---- queries -----------------------------------------------------------------------

  #count(s: number): number {
    return this.#bCount[this.#bucketOf[s]!]!;
  }

  /** The estimate for `item`: its counter if monitored, else count = error = c_min. */
  estimate(item: T): TopKEntry<T> {
    const slot = this.#find(item, hash30(item));
    if (slot < 0) {
      const min = this.minCount;
      return { item, count: min, error: min };
    }
    return { item, count: this.#count(slot), error: this.#errors[slot]! };
  }

  /** All monitored items, by count descending (ties: smaller error, then item). */
  entries(): TopKEntry<T>[] {
    const out: TopKEntry<T>[] = [];
    for (let s = 0; s < this.#size; s++)
      out.push({ item: this.#items[s]!, count: this.#count(s), error: this.#errors[s]! });
    return out.sort(byCount);
  }

  /** The `k` items with the largest counts. */
  top(k: number): TopKEntry<T>[] {
    return this.entries().slice(0, k);
  }

  /** Merges `other` into this summary (see the header). */
  merge(other: SpaceSaving<T>): void {
    if (other.#size === 0) return;
    const minA = this.minCount;
    const minB = other.minCount;
    const merged = new Map<T, TopKEntry<T>>();
    for (let s = 0; s < this.#size; s++) {
      const item = this.#items[s]!;
      const b = other.#find(item, this.#hashes[s]!);
      const bc = b < 0 ? minB : other.#count(b);
      const be = b < 0 ? minB : other.#errors[b]!;
      merged.set(item, { item, count: this.#count(s) + bc, error: this.#errors[s]! + be });
    }
    for (let s = 0; s < other.#size; s++) {
      const item = other.#items[s]!;
      if (merged.has(item)) continue;
      merged.set(item, { item, count: other.#count(s) + minA, error: other.#errors[s]! + minA });
    }
    const total = this.#total + other.#total;
    this.#reset([...merged.values()].sort(byCount).slice(0, this.capacity));
    this.#total = total;
  }

  /** Rebuilds from entries sorted by count descending. */
  #reset(entries: TopKEntry<T>[]): void {
    this.#items = [];
    this.#size = 0;
    this.#bUsed = 0;
    this.#bFree = NONE;
    this.#head = NONE;
    this.#table.fill(0);
    let highest = NONE; // the last bucket: entries come highest first, so each goes at the head
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      const s = this.#newSlot(e.item, hash30(e.item), e.error);
      this.#place(s, e.count, highest);
      highest = this.#bucketOf[s]!;
    }
  }

  toJSON(): SpaceSavingJson<T> {
    const entries: [T, number, number][] = [];
    for (let s = 0; s < this.#size; s++) entries.push([this.#items[s]!, this.#count(s), this.#errors[s]!]);
    return { capacity: this.capacity, total: this.#total, entries };
  }

  static fromJSON<T extends string | number>(json: SpaceSavingJson<T>): SpaceSaving<T> {
    const ss = new SpaceSaving<T>(json.capacity);
    const entries = json.entries.map(([item, count, error]) => ({ item, count, error })).sort(byCount);
    ss.#reset(entries.slice(0, json.capacity));
    ss.#total = json.total;
    return ss;
  }
}

/** Index slots for n counters: a power of two ≥ 2n (load ≤ 1/2). */
function tableSize(n: number): number {
  let t = 4;
  while (t < 2 * n) t *= 2;
  return t;
}

function byCount<T extends string | number>(a: TopKEntry<T>, b: TopKEntry<T>): number {
  if (a.count !== b.count) return b.count - a.count;
  if (a.error !== b.error) return a.error - b.error;
  return a.item < b.item ? -1 : a.item > b.item ? 1 : 0;
}
