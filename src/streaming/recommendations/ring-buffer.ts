/** A fixed-capacity FIFO: pushing onto a full ring overwrites the oldest entry. O(1) push and indexed read. */
export class RingBuffer<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  /** Index of the next write. */
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends `item`; returns the entry it overwrote, if the ring was full. */
  push(item: T): T | undefined {
    const evicted = this.#size === this.capacity ? this.#items[this.#head] : undefined;
    this.#items[this.#head] = item;
    this.#head = (this.#head + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
    return evicted;
  }

  /** The `back`-th newest entry: 0 = newest, size − 1 = oldest. */
  recent(back: number): T | undefined {
    if (back < 0 || back >= this.#size) return undefined;
    return this.#items[(this.#head - 1 - back + this.capacity) % this.capacity];
  }

  /** Newest first. */
  *newestFirst(): IterableIterator<T> {
    for (let b = 0; b < this.#size; b++) yield this.recent(b) as T;
  }

  /** Oldest first (the order that `push` replays). */
  toArray(): T[] {
    const out: T[] = [];
    for (let b = this.#size - 1; b >= 0; b--) out.push(this.recent(b) as T);
    return out;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }
}
