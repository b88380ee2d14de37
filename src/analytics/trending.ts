/**
 * Trending tracks and artists over 1h, 24h and 7d (SPEC §7): ranked by a time-decayed
 * score against each item's own baseline, so a sudden riser ranks above a steadily
 * popular item with more plays. The formula (README.md, "Trending"):
 *
 *   S = Σ 2^(−(now − tᵢ)/h)       short-term decayed plays, half-life h = W/4
 *   L = Σ 2^(−(now − tᵢ)/H)       long-term decayed plays, half-life H = 8h
 *   c(x) = x/ln2 · (1 − 2^(−T/x))  the decayed mass one play per ms would have after T
 *                                  of observation (T = now − first event seen, ≤ 28 d)
 *   expected = L · c(h)/c(H)       what S would be if the item kept its long-term rate
 *   score = S / (expected + prior)
 *
 * A steady item scores ≈ S/(S + prior) < 1 whatever its volume; an item with no history
 * and n recent plays approaches c(H)/c(h) (= 8 once T ≫ H), higher the more plays it
 * has against the prior. The sums use forward decay (Cormode et al. 2009): each play
 * adds 2^((t − landmark)/x), which is order-independent, and the query multiplies by
 * 2^(−(now − landmark)/x); the landmark moves (and every sum is rescaled) before any
 * weight could overflow. Plays are counted exactly per time bucket (item-table.ts), unique
 * listeners by HyperLogLog per bucket; both cover the window at bucket resolution.
 */
import { COUNT_RINGS, ItemTable, LISTENER_RINGS, SUMS, type Prepared } from './item-table.ts';

export const TREND_WINDOWS = ['1h', '24h', '7d'] as const;
export type TrendWindow = (typeof TREND_WINDOWS)[number];
export type TrendEntity = 'track' | 'artist';
const HOUR = 3_600_000;
export const WINDOW_MS: Record<TrendWindow, number> = { '1h': HOUR, '24h': 24 * HOUR, '7d': 168 * HOUR };
const OBSERVATION_MAX_MS = 28 * 24 * HOUR;
/** The landmark moves once a weight reaches 2^REBASE_AT (far from overflow at 2^1024). */
const REBASE_AT = 256;

export interface TrendingOptions {
  maxTracks: number;
  maxArtists: number;
  /** HyperLogLog precision of the per-item listener sketches. */
  precision: number;
  /** Short half-life as a fraction of the window. @default 0.25 */
  halfLifeFraction: number;
  /** Long (baseline) half-life as a multiple of the short one. @default 8 */
  baselineFactor: number;
  /** Pseudo-plays added to the expectation (small items stay small). @default 5 */
  prior: number;
}

export interface TrendingItem {
  id: string;
  score: number;
  plays: number;
  uniqueListeners: number;
}

const windowIndex = (w: TrendWindow): number => TREND_WINDOWS.indexOf(w);

export class TrendingIndex {
  readonly tracks: ItemTable;
  readonly artists: ItemTable;
  readonly #o: TrendingOptions;
  /** Half-life per decayed sum: [short, long] per window. */
  readonly #halfLives = new Float64Array(SUMS);
  #landmark = NaN;
  #observedFrom = Infinity;
  readonly #prepared: Prepared = { buckets: new Int32Array(6), weights: new Float64Array(SUMS) };
  #preparedFor = NaN;

  constructor(o: TrendingOptions) {
    this.#o = o;
    this.tracks = new ItemTable(o.maxTracks, o.precision);
    this.artists = new ItemTable(o.maxArtists, o.precision);
    TREND_WINDOWS.forEach((w, i) => {
      const short = WINDOW_MS[w] * o.halfLifeFraction;
      this.#halfLives[2 * i] = short;
      this.#halfLives[2 * i + 1] = short * o.baselineFactor;
    });
  }

  table(entity: TrendEntity): ItemTable {
    return entity === 'track' ? this.tracks : this.artists;
  }

  /**
   * Bucket indexes and weights of event time `t`, at one-second resolution (every bucket
   * is a whole number of seconds; a second is nothing against the shortest half-life), so
   * the events of one second share one computation.
   */
  prepare(t: number, now: number): Prepared {
    const second = Math.floor(t / 1000);
    if (second === this.#preparedFor) return this.#prepared;
    const ts = second * 1000;
    if (Number.isNaN(this.#landmark)) this.#landmark = ts;
    if (ts >= now - OBSERVATION_MAX_MS && ts < this.#observedFrom) this.#observedFrom = ts;
    if ((ts - this.#landmark) / this.#halfLives[0]! > REBASE_AT) this.#rebase(ts);
    const p = this.#prepared;
    for (let w = 0; w < 3; w++) {
      p.buckets[w] = Math.floor(ts / COUNT_RINGS[w]!.bucketMs);
      p.buckets[3 + w] = Math.floor(ts / LISTENER_RINGS[w]!.bucketMs);
    }
    const dt = ts - this.#landmark;
    for (let j = 0; j < SUMS; j++) p.weights[j] = 2 ** (dt / this.#halfLives[j]!);
    this.#preparedFor = second;
    return p;
  }

  /** Moves the landmark to `to`, rescaling every sum. */
  #rebase(to: number): void {
    const factors = new Float64Array(SUMS);
    for (let j = 0; j < SUMS; j++) factors[j] = 2 ** (-(to - this.#landmark) / this.#halfLives[j]!);
    this.tracks.rescale(factors);
    this.artists.rescale(factors);
    this.#landmark = to;
    this.#preparedFor = NaN;
  }

  /** The `limit` items of `entity` with the highest score in `window` (items played in it). */
  top(entity: TrendEntity, window: TrendWindow, limit: number, now: number): TrendingItem[] {
    const table = this.table(entity);
    const w = windowIndex(window);
    if (Number.isNaN(this.#landmark)) return [];
    if ((now - this.#landmark) / this.#halfLives[0]! > REBASE_AT) this.#rebase(now);
    const h = this.#halfLives[2 * w]!;
    const H = this.#halfLives[2 * w + 1]!;
    const fS = 2 ** (-(now - this.#landmark) / h);
    const fL = 2 ** (-(now - this.#landmark) / H);
    const T = Math.max(0, now - this.#observedFrom);
    const mass = (x: number) => (x / Math.LN2) * (1 - 2 ** (-T / x));
    const ratio = T > 0 ? mass(h) / mass(H) : 1;
    const prior = this.#o.prior;
    const countBucket = Math.floor(now / COUNT_RINGS[w]!.bucketMs);
    const best = new BoundedTop(limit);
    for (const [id, slot] of table.entries()) {
      const plays = table.plays(slot, w, countBucket);
      if (plays === 0) continue;
      const S = table.sum(slot, 2 * w) * fS;
      const L = table.sum(slot, 2 * w + 1) * fL;
      best.offer(id, slot, S / (L * ratio + prior), plays);
    }
    const listenerBucket = Math.floor(now / LISTENER_RINGS[w]!.bucketMs);
    return best.sorted().map((c) => ({
      id: c.id,
      score: round(c.score),
      plays: c.plays,
      uniqueListeners: table.listeners(c.slot, w, listenerBucket),
    }));
  }

  /** The `limit` most played items of `entity` in `window`. */
  mostPlayed(
    entity: TrendEntity,
    window: TrendWindow,
    limit: number,
    now: number,
  ): Array<{ id: string; plays: number }> {
    const table = this.table(entity);
    const w = windowIndex(window);
    const bucket = Math.floor(now / COUNT_RINGS[w]!.bucketMs);
    const best = new BoundedTop(limit);
    for (const [id, slot] of table.entries()) {
      const plays = table.plays(slot, w, bucket);
      if (plays > 0) best.offer(id, slot, plays, plays);
    }
    return best.sorted().map((c) => ({ id: c.id, plays: c.plays }));
  }

  approxBytes(): number {
    return this.tracks.approxBytes() + this.artists.approxBytes();
  }

  /** The index as it is (stream snapshots): the landmark, the observation start, both tables. */
  snapshot(): unknown {
    return {
      halfLives: this.#halfLives,
      landmark: this.#landmark,
      observedFrom: this.#observedFrom,
      tracks: this.tracks.snapshot(),
      artists: this.artists.snapshot(),
    };
  }

  /** Checks a `snapshot()`; returns what puts it in place (nothing changes before). */
  prepareRestore(v: unknown): () => void {
    const s = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    const h = s['halfLives'];
    if (!(h instanceof Float64Array) || h.length !== SUMS || h.some((x, i) => x !== this.#halfLives[i]))
      throw new TypeError('analytics trending snapshot: made with other half-lives');
    const landmark = s['landmark'];
    const observedFrom = s['observedFrom'];
    if (typeof landmark !== 'number' || typeof observedFrom !== 'number' || Number.isNaN(observedFrom))
      throw new TypeError('analytics trending snapshot: bad landmark');
    const tracks = this.tracks.prepareRestore(s['tracks']);
    const artists = this.artists.prepareRestore(s['artists']);
    return () => {
      tracks();
      artists();
      this.#landmark = landmark;
      this.#observedFrom = observedFrom;
      this.#preparedFor = NaN;
    };
  }
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

interface Candidate {
  id: string;
  slot: number;
  score: number;
  plays: number;
}

/** Higher score first, then more plays, then id: a total order, so results are deterministic. */
const beats = (score: number, plays: number, id: string, bScore: number, bPlays: number, bId: string) =>
  score > bScore || (score === bScore && (plays > bPlays || (plays === bPlays && id < bId)));

/** The best `k` candidates seen, kept sorted; most offers fall below the last and cost one compare. */
export class BoundedTop {
  readonly #k: number;
  readonly #items: Candidate[] = [];

  constructor(k: number) {
    this.#k = Math.max(0, k);
  }

  offer(id: string, slot: number, score: number, plays: number): void {
    const items = this.#items;
    if (this.#k === 0) return;
    if (items.length === this.#k) {
      const last = items[items.length - 1]!;
      if (!beats(score, plays, id, last.score, last.plays, last.id)) return;
      items.pop();
    }
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = items[mid]!;
      if (beats(m.score, m.plays, m.id, score, plays, id)) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, { id, slot, score, plays });
  }

  sorted(): Candidate[] {
    return this.#items;
  }
}
