import type { Clock, TimerHandle } from '../core/time/index.ts';

/**
 * Token expiry for every connection on one timer: connections sit in one-second buckets
 * (token `exp` has one-second resolution anyway) and a single interval expires the due
 * buckets. A per-connection Timeout would cost each idle connection a few hundred bytes.
 */
export class ExpiryWheel<T extends { expiryBucket: number }> {
  readonly #buckets = new Map<number, Set<T>>();
  readonly #clock: Clock;
  readonly #onExpire: (item: T) => void;
  readonly #timer: TimerHandle;
  /** Last bucket (second) processed. */
  #cursor: number;

  constructor(clock: Clock, onExpire: (item: T) => void) {
    this.#clock = clock;
    this.#onExpire = onExpire;
    this.#cursor = Math.floor(clock.now() / 1000);
    this.#timer = clock.setInterval(() => this.tick(), 250);
  }

  /** Expires `item` at `atMs` (rounded up to the second); replaces any earlier schedule. */
  schedule(item: T, atMs: number): void {
    this.remove(item);
    const bucket = Math.ceil(atMs / 1000);
    if (bucket <= this.#cursor) {
      queueMicrotask(() => this.#onExpire(item));
      return;
    }
    let set = this.#buckets.get(bucket);
    if (!set) this.#buckets.set(bucket, (set = new Set()));
    set.add(item);
    item.expiryBucket = bucket;
  }

  remove(item: T): void {
    if (item.expiryBucket === 0) return;
    const set = this.#buckets.get(item.expiryBucket);
    set?.delete(item);
    if (set?.size === 0) this.#buckets.delete(item.expiryBucket);
    item.expiryBucket = 0;
  }

  /** Expires every bucket up to now (runs on the interval). */
  tick(): void {
    const now = Math.floor(this.#clock.now() / 1000);
    // Walk the seconds since the last tick; with an idle gap (or a clock jump), the buckets present.
    const due =
      now - this.#cursor > this.#buckets.size
        ? [...this.#buckets.keys()].filter((b) => b <= now)
        : range(this.#cursor + 1, now);
    this.#cursor = Math.max(this.#cursor, now);
    for (const b of due) {
      const set = this.#buckets.get(b);
      if (!set) continue;
      this.#buckets.delete(b);
      for (const item of set) {
        item.expiryBucket = 0;
        this.#onExpire(item);
      }
    }
  }

  close(): void {
    this.#timer.cancel();
    this.#buckets.clear();
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
