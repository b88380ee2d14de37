import type { Clock } from '../../../core/time/index.ts';
import type { RateDecision, RateLimiter, RateRule } from '../ports.ts';

/**
 * Exact sliding-window log: the times of the accepted commands in the last window,
 * oldest first. A command is allowed when fewer than `limit` were accepted in the
 * `windowMs` before it; otherwise it may retry when the oldest one leaves the window.
 * Memory is one number per accepted command in the window, and nothing for idle keys
 * after their window passes (entries are pruned on use; `reset` frees a key).
 */
export class SlidingWindowLog {
  #times: number[] = [];
  #head = 0;

  consume(now: number, rule: RateRule): RateDecision {
    const cutoff = now - rule.windowMs;
    const t = this.#times;
    while (this.#head < t.length && t[this.#head]! <= cutoff) this.#head++;
    if (this.#head > 32 && this.#head * 2 > t.length) {
      this.#times = t.slice(this.#head);
      this.#head = 0;
    }
    const used = this.#times.length - this.#head;
    if (used >= rule.limit) {
      const oldest = this.#times[this.#times.length - rule.limit]!;
      return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, oldest + rule.windowMs - now) };
    }
    this.#times.push(now);
    return { allowed: true, remaining: rule.limit - used - 1, retryAfterMs: 0 };
  }
}

export class MemoryRateLimiter implements RateLimiter {
  readonly #clock: Clock;
  readonly #windows = new Map<string, SlidingWindowLog>();
  readonly #slots = new Map<string, Set<string>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  consume(key: string, rule: RateRule): RateDecision {
    let w = this.#windows.get(key);
    if (!w) this.#windows.set(key, (w = new SlidingWindowLog()));
    return w.consume(this.#clock.now(), rule);
  }

  reset(key: string): void {
    this.#windows.delete(key);
  }

  async acquireSlot(key: string, member: string, max: number): Promise<boolean> {
    let set = this.#slots.get(key);
    if (!set) this.#slots.set(key, (set = new Set()));
    if (set.has(member)) return true;
    if (set.size >= max) {
      if (set.size === 0) this.#slots.delete(key);
      return false;
    }
    set.add(member);
    return true;
  }

  async slotCount(key: string): Promise<number> {
    return this.#slots.get(key)?.size ?? 0;
  }

  async releaseSlot(key: string, member: string): Promise<void> {
    const set = this.#slots.get(key);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.#slots.delete(key);
  }

  async close(): Promise<void> {
    this.#windows.clear();
    this.#slots.clear();
  }
}
