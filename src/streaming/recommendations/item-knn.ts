import { DAY_MS, decayFactor, EMPTY, HOUR_MS, logAdd, toLog } from './decay.ts';
import { positiveInt, positiveNumber, UserHistories, type HistoryEntry } from './history.ts';
import { byScoreThenId, checkLimit, DecayedPopularity } from './popularity.ts';
import { asArray, asFinite, asObject, asString, expectHeader, expectSame, fail } from './snapshot-check.ts';
import {
  checkInteraction,
  type Interaction,
  type InteractionKind,
  type Recommendation,
  type Recommender,
  type UserInteraction,
} from './types.ts';

/** Implicit-feedback weight of each signal. Positive weights teach co-occurrence; negative ones penalize. */
export interface FeedbackWeights {
  /** A play with completion ≥ `completeAt` (or without a completion). Default 1. */
  completedPlay: number;
  /** A play that stopped between `earlyExitAt` and `completeAt`. Default 0.5. */
  partialPlay: number;
  /** A play that stopped before `earlyExitAt`: a soft skip. Default −0.5. */
  earlyExit: number;
  /** Default 2. */
  like: number;
  /** Added to a playlist. Default 2. */
  add: number;
  /** Default −1. */
  skip: number;
}

export interface ItemKnnOptions {
  /**
   * Half-life of the long-term weights (co-occurrence, item counts, skips, popularity fill).
   * Default 7 days. What moves faster is caught by the trend factor (trendHalfLifeMs).
   */
  halfLifeMs?: number;
  /** Interactions remembered per user (ring): the exclusion window and the query profile. Default 100. */
  historySize?: number;
  /** Users remembered; beyond it the least recently active user is forgotten (O(1)). Default 100,000. */
  maxUsers?: number;
  /**
   * Tracks modelled. Beyond it the track whose last own interaction is oldest is evicted
   * (LRU, O(1)) with its neighbour list; edges to it left in other lists are dropped
   * lazily (ignored when scoring, removed first when that list is pruned). Default 50,000.
   */
  maxItems?: number;
  /** Neighbour list bound per track: a list never holds more. Default 200. */
  maxNeighbors?: number;
  /** When a full list needs room it keeps its strongest `pruneTo × maxNeighbors` edges (by decayed weight), so pruning is amortized. Default 0.8. */
  pruneTo?: number;
  /** A new event pairs with at most this many of the user's preceding interactions… Default 10 (20 and 40 measured no better). */
  pairWindow?: number;
  /** …and only with those at most this long before it (the listening-session window). Default 24 h. */
  pairWindowMs?: number;
  /** A pair's weight is multiplied by this per position apart (1 = adjacent). Default 0.85. */
  proximityDecay?: number;
  /** Distinct recent positive tracks of the user that seed a recommendation. Default 20. */
  queryDepth?: number;
  /** Seed weight factor per rank back in the user's history (0 = most recent). Default 0.9. */
  queryDecay?: number;
  /** Seeds also decay with their age at query time, with this half-life. Default 2 days. */
  queryHalfLifeMs?: number;
  /**
   * Popularity normalization: sim(r, c) = C(r, c) / (P(r)^(1−alpha) · P(c)^alpha), P = decayed
   * positive weight of a track. 0 = conditional probability P(c | r) (normalizes the seed only),
   * 0.5 = cosine, higher favours niche tracks. Default 0.1 (synthetic data: 0 is within ±0.01
   * hit-rate@10 with less coverage; 0.5 costs 0.05–0.09).
   */
  alpha?: number;
  /** Half-life of the short-term ("trending") positive count. Default 1 day. */
  trendHalfLifeMs?: number;
  /**
   * Candidate score × (short-term / long-term decayed positive weight)^trendWeight: lifts
   * what is rising now (a steady track's ratio is ~trendHalfLife/halfLife, a new release's
   * near 1). 0 disables. Default 1.5 (synthetic data, where releases are hyped for days:
   * turning it off costs ~0.16 hit-rate@10; 1.5 vs 2 within noise).
   */
  trendWeight?: number;
  /**
   * A skip multiplies the co-occurrence between the skipped track and the session's tracks by
   * this. Default 0.5 (synthetic data: 1, i.e. off, costs 0.01–0.02 hit-rate@10 and ~0.08 coverage).
   */
  skipEdgeFactor?: number;
  /** Candidate score × 1 / (1 + skipPenalty · S(c) / P(c)), S = decayed skip weight. Default 1. */
  skipPenalty?: number;
  /**
   * Candidate score × (1 + artistBoost · share of the user's recent positive weight on its
   * artist). Default 0 (off): on the synthetic data 0.5 and 1.5 changed hit-rate@10 by less
   * than the seed-to-seed noise, so it is not on by default.
   */
  artistBoost?: number;
  /** Plays at or above this completion count as completed. Default 0.8. */
  completeAt?: number;
  /** Plays below this completion count as early exits. Default 0.25. */
  earlyExitAt?: number;
  weights?: Partial<FeedbackWeights>;
  /** Ranked popular tracks kept ready for cold-start fill. Default 500. */
  popularTopSize?: number;
}

type Resolved = Required<Omit<ItemKnnOptions, 'weights'>> & { weights: FeedbackWeights };

export const ITEM_KNN_DEFAULTS: Resolved = {
  halfLifeMs: 7 * DAY_MS,
  historySize: 100,
  maxUsers: 100_000,
  maxItems: 50_000,
  maxNeighbors: 200,
  pruneTo: 0.8,
  pairWindow: 10,
  pairWindowMs: 24 * HOUR_MS,
  proximityDecay: 0.85,
  queryDepth: 20,
  queryDecay: 0.9,
  queryHalfLifeMs: 2 * DAY_MS,
  alpha: 0.1,
  trendHalfLifeMs: DAY_MS,
  trendWeight: 1.5,
  skipEdgeFactor: 0.5,
  skipPenalty: 1,
  artistBoost: 0,
  completeAt: 0.8,
  earlyExitAt: 0.25,
  weights: { completedPlay: 1, partialPlay: 0.5, earlyExit: -0.5, like: 2, add: 2, skip: -1 },
  popularTopSize: 500,
};

interface ItemState {
  readonly trackId: string;
  artistId: string | undefined;
  /** log2 decayed positive weight (EMPTY: none). */
  pos: number;
  /** log2 positive weight decayed with trendHalfLifeMs (EMPTY: none). */
  recent: number;
  /** log2 decayed skip weight (EMPTY: none). */
  neg: number;
  /** neighbour → log2 decayed co-occurrence weight. Keyed by the neighbour's state object (identity hash: no string hashing in the hot loops). */
  nbrs: Map<ItemState, number>;
  /** Set when the track is evicted; edges to it are then dead and dropped lazily. */
  evicted: boolean;
  // Scratch for recommend (valid when mark === the query's epoch).
  mark: number;
  acc: number;
  best: number;
  because: number;
  heard: number;
}

function newItem(
  trackId: string,
  artistId: string | undefined,
  pos = EMPTY,
  neg = EMPTY,
  recent = EMPTY,
  evicted = false,
): ItemState {
  return {
    trackId,
    artistId,
    pos,
    recent,
    neg,
    nbrs: new Map(),
    evicted,
    mark: 0,
    acc: 0,
    best: 0,
    because: 0,
    heard: 0,
  };
}

interface Seed {
  trackId: string;
  w: number;
  kind: InteractionKind;
  item: ItemState;
}

const VERB: Record<InteractionKind, string> = {
  play: 'played',
  like: 'liked',
  add: 'added',
  skip: 'skipped',
};

/** What one model holds, for bound checks and metrics. */
export interface ItemKnnStats {
  items: number;
  users: number;
  maxNeighbors: number;
  maxHistory: number;
  edges: number;
  popularityItems: number;
}

/**
 * Session-based item-kNN learned online.
 *
 * Each positive interaction pairs its track with the user's preceding positive tracks in
 * the same listening window (at most `pairWindow` back, within `pairWindowMs`), adding
 * weight(event) × weight(earlier) × proximityDecay^distance to both tracks' neighbour
 * lists. Everything decays exponentially (log-space forward decay, decay.ts), so orders
 * and similarity ratios need no aging sweep. A skip (or early exit) counts against the
 * track and multiplies its co-occurrence with the session's tracks by `skipEdgeFactor`.
 *
 * recommend: the user's recent distinct positive tracks (recency-weighted) each vote for
 * their neighbours with the popularity-normalized similarity C / (P(r)^(1−α) P(c)^α); the
 * sum is multiplied by the candidate's trend (short- over long-term decayed positive
 * weight, ^trendWeight), damped by its skip ratio, and optionally lifted by the user's
 * artist affinity; tracks in the user's history are excluded. Too few candidates (a
 * cold-start user) are filled from the decayed popularity ranking, with a reason that says so.
 *
 * Work per observe is bounded: ≤ pairWindow pairs, each an O(1) map update on two lists, plus
 * an amortized O(maxNeighbors) prune when a list is full; LRU upkeep is O(1); the popularity
 * top list is O(topSize) worst case. recommend is O(historySize + queryDepth × maxNeighbors).
 */
export class ItemKnnRecommender implements Recommender {
  readonly name = 'item-knn';
  readonly options: Resolved;
  #items = new Map<string, ItemState>();
  readonly #history: UserHistories;
  readonly #pop: DecayedPopularity;
  readonly #keep: number;
  readonly #logSkipEdge: number;
  #epoch = 0;
  readonly #scratch: Float64Array;

  constructor(options: ItemKnnOptions = {}) {
    const o: Resolved = {
      ...ITEM_KNN_DEFAULTS,
      ...options,
      weights: { ...ITEM_KNN_DEFAULTS.weights, ...options.weights },
    };
    for (const k of [
      'historySize',
      'maxUsers',
      'maxItems',
      'maxNeighbors',
      'pairWindow',
      'queryDepth',
      'popularTopSize',
    ] as const)
      positiveInt(o[k], k);
    for (const k of ['halfLifeMs', 'trendHalfLifeMs', 'pairWindowMs', 'queryHalfLifeMs'] as const)
      positiveNumber(o[k], k);
    for (const k of ['pruneTo', 'proximityDecay', 'queryDecay', 'skipEdgeFactor'] as const) {
      if (!(o[k] > 0 && o[k] <= 1)) throw new RangeError(`${k} must be in (0, 1], got ${o[k]}`);
    }
    if (!(o.alpha >= 0 && o.alpha <= 1)) throw new RangeError(`alpha must be in [0, 1], got ${o.alpha}`);
    if (!(o.skipPenalty >= 0) || !(o.artistBoost >= 0) || !(o.trendWeight >= 0))
      throw new RangeError('skipPenalty, artistBoost and trendWeight must be ≥ 0');
    if (!(o.earlyExitAt >= 0 && o.earlyExitAt <= o.completeAt && o.completeAt <= 1))
      throw new RangeError('need 0 ≤ earlyExitAt ≤ completeAt ≤ 1');
    const w = o.weights;
    if (!(
      w.completedPlay > 0 &&
      w.partialPlay > 0 &&
      w.like > 0 &&
      w.add > 0 &&
      w.skip < 0 &&
      w.earlyExit <= 0
    )) {
      throw new RangeError('weights: plays, like and add must be > 0, skip < 0, earlyExit ≤ 0');
    }
    this.options = o;
    this.#history = new UserHistories(o.historySize, o.maxUsers);
    this.#pop = new DecayedPopularity(o.halfLifeMs, o.maxItems, o.popularTopSize);
    this.#keep = Math.max(1, Math.floor(o.maxNeighbors * o.pruneTo));
    this.#logSkipEdge = Math.log2(o.skipEdgeFactor);
    this.#scratch = new Float64Array(o.maxNeighbors);
  }

  /** The implicit-feedback weight the model gives an interaction. */
  weightOf(i: Interaction): number {
    const w = this.options.weights;
    switch (i.kind) {
      case 'like':
        return w.like;
      case 'add':
        return w.add;
      case 'skip':
        return w.skip;
      case 'play': {
        const c = i.completion ?? 1;
        if (c >= this.options.completeAt) return w.completedPlay;
        return c < this.options.earlyExitAt ? w.earlyExit : w.partialPlay;
      }
    }
  }

  observe(i: Interaction): void {
    checkInteraction(i);
    const o = this.options;
    const w = this.weightOf(i);
    const item = this.#touchItem(i.trackId, i.artistId);
    const ring = this.#history.touch(i.userId);
    if (i.kind === 'play') this.#pop.add(i.trackId, 1, i.ts);
    if (w > 0) {
      item.pos = logAdd(item.pos, toLog(w, i.ts, o.halfLifeMs));
      item.recent = logAdd(item.recent, toLog(w, i.ts, o.trendHalfLifeMs));
    } else if (w < 0) item.neg = logAdd(item.neg, toLog(-w, i.ts, o.halfLifeMs));
    if (w !== 0) {
      // Pair with the preceding positive tracks of this listening window (distinct, nearest first).
      const seen: string[] = [];
      const n = Math.min(o.pairWindow, ring.size);
      for (let b = 0; b < n; b++) {
        const e = ring.recent(b) as HistoryEntry;
        if (i.ts - e.ts > o.pairWindowMs) break;
        if (e.weight <= 0 || e.trackId === i.trackId || seen.includes(e.trackId)) continue;
        seen.push(e.trackId);
        const other = this.#items.get(e.trackId);
        if (!other) continue;
        if (w > 0) {
          const lw = toLog(w * e.weight * o.proximityDecay ** b, i.ts, o.halfLifeMs);
          this.#addEdge(item, other, lw);
          this.#addEdge(other, item, lw);
        } else {
          this.#weakenEdge(item, other);
          this.#weakenEdge(other, item);
        }
      }
    }
    ring.push({ trackId: i.trackId, kind: i.kind, weight: w, ts: i.ts });
  }

  recommend(userId: string, limit: number, now: number): Recommendation[] {
    checkLimit(limit);
    if (limit === 0) return [];
    const o = this.options;
    const ring = this.#history.get(userId);
    const epoch = ++this.#epoch;
    const heard = new Set<string>();
    // Profile: net weight per distinct track, in order of its latest appearance.
    const net = new Map<string, { w: number; ts: number; kind: InteractionKind; kindW: number }>();
    if (ring) {
      for (const e of ring.newestFirst()) {
        heard.add(e.trackId);
        const p = net.get(e.trackId);
        if (!p) net.set(e.trackId, { w: e.weight, ts: e.ts, kind: e.kind, kindW: e.weight });
        else {
          p.w += e.weight;
          if (e.weight > p.kindW) {
            p.kind = e.kind;
            p.kindW = e.weight;
          }
        }
      }
    }
    const seeds: Seed[] = [];
    const artistW = new Map<string, number>();
    let totalW = 0;
    let rank = 0;
    for (const [trackId, p] of net) {
      const item = this.#items.get(trackId);
      if (!item) continue;
      item.heard = epoch;
      if (p.w <= 0 || item.pos === EMPTY || seeds.length >= o.queryDepth) continue;
      const w = p.w * o.queryDecay ** rank * decayFactor(now - p.ts, o.queryHalfLifeMs);
      rank++;
      seeds.push({ trackId, w, kind: p.kind, item });
      totalW += w;
      if (item.artistId !== undefined) artistW.set(item.artistId, (artistW.get(item.artistId) ?? 0) + w);
    }

    // Votes: seed weight × C(r, c) / P(r)^(1−α), accumulated on the candidates' own state
    // (epoch-marked scratch: no per-query maps); the candidate's P(c)^α, the same for every
    // seed, is applied once per candidate below, as are the exclusion and eviction checks.
    // Log-space values carry a t/halfLife offset that cancels only in the full ratio, so both
    // factors are taken relative to `ref` (the first seed's level) to stay in double range.
    const touched: ItemState[] = [];
    const a = o.alpha;
    const ref = seeds[0]?.item.pos ?? 0;
    for (let si = 0; si < seeds.length; si++) {
      const s = seeds[si] as Seed;
      const base = Math.log2(s.w) - (1 - a) * s.item.pos - a * ref;
      s.item.nbrs.forEach((lc, c) => {
        const contrib = 2 ** (lc + base);
        if (c.mark !== epoch) {
          c.mark = epoch;
          c.acc = contrib;
          c.best = contrib;
          c.because = si;
          touched.push(c);
        } else {
          c.acc += contrib;
          if (contrib > c.best) {
            c.best = contrib;
            c.because = si;
          }
        }
      });
    }

    // Final scores, keeping only the best `limit` (sorted insertion; reasons built for those only).
    const top: { trackId: string; score: number; because: number }[] = [];
    const nowShort = now / o.trendHalfLifeMs;
    const nowLong = now / o.halfLifeMs;
    for (const c of touched) {
      if (c.evicted || c.heard === epoch || c.pos === EMPTY) continue;
      let score = c.acc * 2 ** (-a * (c.pos - ref));
      if (o.trendWeight > 0 && c.recent !== EMPTY)
        score *= 2 ** (o.trendWeight * (c.recent - nowShort - (c.pos - nowLong)));
      if (c.neg !== EMPTY && o.skipPenalty > 0) score /= 1 + o.skipPenalty * 2 ** (c.neg - c.pos);
      if (o.artistBoost > 0 && c.artistId !== undefined)
        score *= 1 + (o.artistBoost * (artistW.get(c.artistId) ?? 0)) / totalW;
      const entry = { trackId: c.trackId, score, because: c.because };
      const last = top[top.length - 1];
      if (top.length >= limit && last && byScoreThenId(entry, last) >= 0) continue;
      let k = top.length;
      top.push(entry);
      while (k > 0 && byScoreThenId(entry, top[k - 1] as typeof entry) < 0) {
        top[k] = top[k - 1] as typeof entry;
        k--;
      }
      top[k] = entry;
      if (top.length > limit) top.pop();
    }
    const out: Recommendation[] = top.map((t) => {
      const s = seeds[t.because] as Seed;
      return { trackId: t.trackId, score: t.score, reason: `because you ${VERB[s.kind]} ${s.trackId}` };
    });
    if (out.length < limit) this.#fill(out, limit, heard, now, seeds.length === 0);
    return out;
  }

  /** Appends popular tracks (not heard, not already listed) after the kNN results, scored below them. */
  #fill(out: Recommendation[], limit: number, heard: Set<string>, now: number, cold: boolean): void {
    const taken = new Set(out.map((r) => r.trackId));
    const last = out.at(-1);
    const reason = cold
      ? 'popular now (cold start: not enough listening history yet)'
      : 'popular now (filling in: few similar tracks)';
    let scale = 1;
    for (const trackId of this.#pop.top()) {
      if (out.length >= limit) break;
      if (heard.has(trackId) || taken.has(trackId)) continue;
      const pop = this.#pop.scoreAt(trackId, now);
      if (last && scale === 1) scale = pop > 0 ? last.score / (2 * pop) : 0;
      out.push({ trackId, score: pop * scale, reason });
    }
  }

  #touchItem(trackId: string, artistId: string | undefined): ItemState {
    let item = this.#items.get(trackId);
    if (item) {
      this.#items.delete(trackId);
      if (artistId !== undefined) item.artistId = artistId;
    } else {
      if (this.#items.size >= this.options.maxItems) {
        const oldest = this.#items.values().next();
        if (!oldest.done) {
          // LRU eviction: the track whose own last interaction is oldest. Its list goes with it;
          // edges to it elsewhere become dead (skipped when scoring, dropped at the next prune).
          oldest.value.evicted = true;
          oldest.value.nbrs = new Map();
          this.#items.delete(oldest.value.trackId);
        }
      }
      item = newItem(trackId, artistId);
    }
    this.#items.set(trackId, item);
    return item;
  }

  #addEdge(from: ItemState, to: ItemState, lw: number): void {
    const cur = from.nbrs.get(to);
    if (cur !== undefined) {
      from.nbrs.set(to, logAdd(cur, lw));
      return;
    }
    if (from.nbrs.size >= this.options.maxNeighbors) this.#prune(from);
    from.nbrs.set(to, lw);
  }

  #weakenEdge(from: ItemState, to: ItemState): void {
    const cur = from.nbrs.get(to);
    if (cur !== undefined) from.nbrs.set(to, cur + this.#logSkipEdge);
  }

  /**
   * Drops edges to evicted tracks, then keeps the `pruneTo` share with the largest decayed
   * weight (ties by track id), in place: O(maxNeighbors) expected (quickselect for the cut).
   */
  #prune(item: ItemState): void {
    const nbrs = item.nbrs;
    const ws = this.#scratch;
    let n = 0;
    for (const [nb, lw] of nbrs) {
      if (nb.evicted) nbrs.delete(nb);
      else ws[n++] = lw;
    }
    if (n <= this.#keep) return;
    const cut = kthLargest(ws, n, this.#keep);
    let above = 0;
    const ties: ItemState[] = [];
    for (const [nb, lw] of nbrs) {
      if (lw > cut) above++;
      else if (lw === cut) ties.push(nb);
      else nbrs.delete(nb);
    }
    if (above + ties.length > this.#keep) {
      ties.sort((x, y) => (x.trackId < y.trackId ? -1 : 1));
      for (const nb of ties.slice(this.#keep - above)) nbrs.delete(nb);
    }
  }

  forget(userId: string): boolean {
    return this.#history.forget(userId);
  }

  userState(userId: string): UserInteraction[] {
    return this.#history.entries(userId);
  }

  stats(): ItemKnnStats {
    let maxNeighbors = 0;
    let edges = 0;
    for (const it of this.#items.values()) {
      maxNeighbors = Math.max(maxNeighbors, it.nbrs.size);
      edges += it.nbrs.size;
    }
    return {
      items: this.#items.size,
      users: this.#history.size,
      maxNeighbors,
      maxHistory: this.#history.maxRingSize(),
      edges,
      popularityItems: this.#pop.size,
    };
  }

  /** The decayed co-occurrence weight of `a`'s edge to `b` at `now` (0 if none). For tests and inspection. */
  cooccurrence(a: string, b: string, now: number): number {
    const to = this.#items.get(b);
    const lw = to && this.#items.get(a)?.nbrs.get(to);
    return lw === undefined ? 0 : 2 ** (lw - now / this.options.halfLifeMs);
  }

  /**
   * `{ kind, version, halfLifeMs, trendHalfLifeMs, items: [[trackId, artistId, pos, neg, recent, [[neighbour, log weight] | [neighbour, log weight, 0 = evicted], …]], …LRU first], users, plays }`.
   * Dead edges are kept (marked) so that a restored model prunes exactly when the original would.
   */
  snapshot(): unknown {
    const items = [...this.#items.values()].map((it) => [
      it.trackId,
      it.artistId ?? null,
      finiteOrNull(it.pos),
      finiteOrNull(it.neg),
      finiteOrNull(it.recent),
      [...it.nbrs].map(([n, lw]) => (n.evicted ? [n.trackId, lw, 0] : [n.trackId, lw])),
    ]);
    const o = this.options;
    return {
      kind: this.name,
      version: 1,
      halfLifeMs: o.halfLifeMs,
      trendHalfLifeMs: o.trendHalfLifeMs,
      items,
      users: this.#history.snapshot(),
      plays: this.#pop.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = asObject(state, 'snapshot');
    expectHeader(s, this.name, 1);
    expectSame(s, 'halfLifeMs', this.options.halfLifeMs);
    expectSame(s, 'trendHalfLifeMs', this.options.trendHalfLifeMs);
    const items = new Map<string, ItemState>();
    const lists: [ItemState, unknown, string][] = [];
    asArray(s['items'], 'items', this.options.maxItems).forEach((raw, i) => {
      const p = `items[${i}]`;
      const a = asArray(raw, p);
      if (a.length !== 6) fail(p, 'must be [trackId, artistId, pos, neg, recent, neighbours]');
      const id = asString(a[0], `${p}[0]`);
      if (items.has(id)) fail(p, `repeats track ${JSON.stringify(id)}`);
      const artistId = a[1] === null ? undefined : asString(a[1], `${p}[1]`);
      const pos = a[2] === null ? EMPTY : asFinite(a[2], `${p}[2]`);
      const neg = a[3] === null ? EMPTY : asFinite(a[3], `${p}[3]`);
      const recent = a[4] === null ? EMPTY : asFinite(a[4], `${p}[4]`);
      const item = newItem(id, artistId, pos, neg, recent);
      items.set(id, item);
      lists.push([item, a[5], `${p}[5]`]);
    });
    for (const [item, raw, p] of lists) {
      asArray(raw, p, this.options.maxNeighbors).forEach((e, j) => {
        const q = `${p}[${j}]`;
        const a = asArray(e, q);
        if (a.length !== 2 && !(a.length === 3 && a[2] === 0))
          fail(q, 'must be [neighbour, weight] or [neighbour, weight, 0]');
        const nid = asString(a[0], `${q}[0]`);
        const lw = asFinite(a[1], `${q}[1]`);
        if (a.length === 3) {
          item.nbrs.set(newItem(nid, undefined, EMPTY, EMPTY, EMPTY, true), lw);
          return;
        }
        const n = items.get(nid);
        if (!n) fail(`${q}[0]`, `names ${JSON.stringify(nid)}, which is not a tracked item`);
        if (n === item || item.nbrs.has(n)) fail(q, 'repeats a neighbour or points to the track itself');
        item.nbrs.set(n, lw);
      });
    }
    const users = this.#history.parse(s['users'], 'users');
    const plays = this.#pop.parse(s['plays'], 'plays');
    this.#items = items;
    this.#history.replace(users);
    this.#pop.replace(plays);
  }
}

/** The k-th largest (1-based) of xs[0..n), by quickselect (reorders xs). */
export function kthLargest(xs: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = xs[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((xs[i] as number) > pivot) i++;
      while ((xs[j] as number) < pivot) j--;
      if (i <= j) {
        const t = xs[i] as number;
        xs[i] = xs[j] as number;
        xs[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return xs[target] as number;
  }
  return xs[target] as number;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
