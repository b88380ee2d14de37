import { LRUCache } from 'lru-cache';

/**
 * The one bounded cache of the project: least-recently-used eviction in O(1), through
 * `lru-cache`. Every in-memory map that grows with users, tracks or ids is one of these,
 * never a hand-rolled `Map` evicting `keys().next()` (V8 degrades that to O(size) per
 * eviction once the map churns: measured 3.6M → ~10k adds/s past 250k ids).
 *
 * The bound is given as `maxSize` with a size of 1 per entry rather than `max`: with `max`
 * lru-cache allocates its index arrays for the whole bound up front (tens of MB and
 * ~160 ms for a bound of 1M, resident at idle), whereas `maxSize` grows with use and
 * evicts the same way.
 */
export function boundedCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(
  max: number,
  options: Omit<LRUCache.Options<K, V, unknown>, 'max' | 'maxSize' | 'sizeCalculation'> = {},
): LRUCache<K, V> {
  const bound = Math.max(1, Math.floor(max));
  return new LRUCache<K, V>({ ...options, maxSize: bound, sizeCalculation: () => 1 });
}

export type { LRUCache };

/**
 * A bounded set that forgets its oldest member first (insertion order, no reordering on
 * lookup): a ring of the members plus a Set for lookups. For windows of recent ids, where
 * an LRU's reordering on every hit is work nobody needs: an add is one Set insert, one Set
 * delete (the member pushed out) and one array store. The ring is never iterated from the
 * front of the Set, so the Set's deleted-entry holes cost nothing (see `boundedCache`).
 */
export class FifoSet<T> {
  readonly #max: number;
  readonly #set = new Set<T>();
  #ring: T[] = [];
  #next = 0;

  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.#set.size;
  }

  get max(): number {
    return this.#max;
  }

  has(x: T): boolean {
    return this.#set.has(x);
  }

  /** Adds `x` as the newest member (a member already in stays where it is); over the bound the oldest goes. */
  add(x: T): void {
    if (this.#set.has(x)) return;
    if (this.#ring.length < this.#max) this.#ring.push(x);
    else {
      this.#set.delete(this.#ring[this.#next] as T);
      this.#ring[this.#next] = x;
      this.#next = (this.#next + 1) % this.#max;
    }
    this.#set.add(x);
  }

  clear(): void {
    this.#set.clear();
    this.#ring = [];
    this.#next = 0;
  }

  /** The members, oldest first. */
  values(): T[] {
    return this.#ring.length < this.#max
      ? [...this.#ring]
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
