/**
 * The per-subscription delivery logic, pure so it can be tested alone: publications are
 * delivered once, in offset order. Duplicates (offset ≤ last) are dropped; a publication
 * after a gap is held while the gap is filled from history; what history cannot supply is
 * reported as a loss (the app then knows it missed something) and delivery moves on.
 */
export interface TrackedPublication {
  offset: number;
  data: unknown;
  info?: { user: string; client?: string };
  ts?: number;
}

export interface TrackerCallbacks {
  deliver(p: TrackedPublication): void;
  /** Ask for what follows `offset` (up to `limit`); resolve with what history has. */
  fetch(offset: number, limit: number): Promise<TrackedPublication[]>;
  /** Offsets in (from, to] could not be recovered. */
  lost(from: number, to: number): void;
}

/** Held publications while a gap is filled; beyond this the oldest are reported lost. */
const MAX_HELD = 10_000;

export class OffsetTracker {
  /** Last delivered offset; -1 until the subscription has a position. */
  offset = -1;
  epoch = '';
  #held = new Map<number, TrackedPublication>();
  #filling = false;
  readonly #cb: TrackerCallbacks;

  constructor(cb: TrackerCallbacks) {
    this.#cb = cb;
  }

  get filling(): boolean {
    return this.#filling;
  }

  /** Starts (or restarts, after an epoch change) from a position; held publications are dropped. */
  reset(offset: number, epoch: string): void {
    this.offset = offset;
    this.epoch = epoch;
    this.#held.clear();
  }

  push(p: TrackedPublication): void {
    if (this.offset < 0 || p.offset <= this.offset) return;
    if (p.offset === this.offset + 1) {
      this.#deliver(p);
      this.#drain();
      return;
    }
    this.#held.set(p.offset, p);
    if (this.#held.size > MAX_HELD) this.#skipTo(Math.min(...this.#held.keys()));
    else if (!this.#filling) void this.fill();
  }

  /** Fills from history up to `target` (default: just before the oldest held publication). */
  async fill(target?: number): Promise<void> {
    if (this.#filling) return;
    const upTo = target ?? (this.#held.size ? Math.min(...this.#held.keys()) - 1 : this.offset);
    if (upTo <= this.offset) return;
    this.#filling = true;
    const epoch = this.epoch;
    try {
      const pubs = await this.#cb.fetch(this.offset, upTo - this.offset);
      if (epoch !== this.epoch) return;
      for (const p of [...pubs].sort((a, b) => a.offset - b.offset)) {
        if (p.offset <= this.offset || p.offset > upTo) continue;
        if (p.offset > this.offset + 1) this.#skipTo(p.offset); // history starts after a hole
        this.#deliver(p);
      }
    } catch {
      // fall through: whatever is still missing is reported below
    } finally {
      this.#filling = false;
    }
    if (this.offset < upTo) this.#skipTo(upTo + 1);
    this.#drain();
  }

  #skipTo(next: number): void {
    if (next - 1 > this.offset) this.#cb.lost(this.offset, next - 1);
    this.offset = next - 1;
    for (const k of this.#held.keys()) if (k <= this.offset) this.#held.delete(k);
  }

  #drain(): void {
    for (let p = this.#held.get(this.offset + 1); p; p = this.#held.get(this.offset + 1)) {
      this.#held.delete(p.offset);
      this.#deliver(p);
    }
    if (this.#held.size > 0 && !this.#filling) void this.fill();
  }

  #deliver(p: TrackedPublication): void {
    this.offset = p.offset;
    this.#cb.deliver(p);
  }
}
