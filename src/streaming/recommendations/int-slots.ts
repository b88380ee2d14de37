/**
 * A small-integer key → slot index map in one Int32Array (open addressing, linear probing,
 * at most half full), for the neighbour lists: tens of thousands of them, each up to a few
 * hundred entries, updated ~20 times per play. Against a `Map<number, number>` it
 * allocates nothing per insert, grows by doubling, and is rebuilt wholesale when its list
 * is compacted (a prune moves most entries: one pass instead of a delete and a set each).
 * Keys are ≥ 0 (item uids); a table cell holds `key + 1` in its even half and the slot in
 * its odd half, 0 = empty.
 */
export class IntSlots {
  #t: Int32Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 8) {
    let cap = 8;
    while (cap < capacity * 2) cap *= 2;
    this.#t = new Int32Array(cap * 2);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** Cells in the table (for memory accounting and tests). */
  get capacity(): number {
    return this.#mask + 1;
  }

  /** The slot of `key`, or -1. */
  get(key: number): number {
    const t = this.#t;
    const mask = this.#mask;
    const k = key + 1;
    for (let i = (Math.imul(key, 0x9e3779b1) >>> 0) & mask; ; i = (i + 1) & mask) {
      const c = t[i << 1]!;
      if (c === k) return t[(i << 1) | 1]!;
      if (c === 0) return -1;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== -1;
  }

  /** Sets the slot of `key` (inserted or replaced). */
  set(key: number, slot: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    const t = this.#t;
    const mask = this.#mask;
    const k = key + 1;
    for (let i = (Math.imul(key, 0x9e3779b1) >>> 0) & mask; ; i = (i + 1) & mask) {
      const c = t[i << 1]!;
      if (c === k || c === 0) {
        if (c === 0) this.#size++;
        t[i << 1] = k;
        t[(i << 1) | 1] = slot;
        return;
      }
    }
  }

  /** Empties the map, keeping its table (a rebuild follows). */
  clear(): void {
    this.#t.fill(0);
    this.#size = 0;
  }

  #grow(): void {
    const old = this.#t;
    this.#t = new Int32Array(old.length * 2);
    this.#mask = (this.#mask << 1) | 1;
    this.#size = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.set(old[i]! - 1, old[i + 1]!);
  }
}
