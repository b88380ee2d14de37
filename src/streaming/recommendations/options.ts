import { DAY_MS, HOUR_MS } from './decay.ts';
import { positiveInt, positiveNumber } from './history.ts';
import type { Interaction } from './types.ts';

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
  /** Neighbour list bound per track, for each of its two lists (session, long-term): a list never holds more. Default 200. */
  maxNeighbors?: number;
  /** When a full list needs room it keeps its strongest `pruneTo × maxNeighbors` edges (by decayed weight), so pruning is amortized. Default 0.8. */
  pruneTo?: number;
  /** A new event pairs with at most this many of the user's preceding interactions… Default 3 (README: 5 and 10 measured no better on either dataset and cost more edges per play). */
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
   * Session score × (short-term / long-term decayed positive weight)^trendWeight: lifts
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
  /**
   * Long-term taste: distinct positive tracks remembered per user (their profile, kept in the
   * order first heard; when full, the one heard longest ago is dropped). Default 64.
   */
  profileSize?: number;
  /**
   * A track new to a user's profile is paired (long-term co-occurrence) with at most this many
   * of the tracks most recently added to the profile. Default 8 (16 and 48: within ±0.003
   * precision@10 on Last.fm, 2–6× the edge updates).
   */
  longPairs?: number;
  /** Half-life of the long-term co-occurrence and of the per-track listener counts. Default 90 days. */
  longHalfLifeMs?: number;
  /** Long-term similarity: L(r, c) = (C(r, c) / (U(r)^(1−longAlpha) · U(c)^longAlpha))^locality, U = decayed listener count. Default 0.5 (cosine). */
  longAlpha?: number;
  /** Exponent on the long-term similarity before summing over the profile (< 1 lets many weak neighbours add up). Default 0.5. */
  locality?: number;
  /** Fill a short list (a cold-start user, few neighbours) from the decayed popularity ranking. Default true. */
  popularityFill?: boolean;
  /** The trend factor's exponent on the long-term part (trendWeight is the session part's). Default 0.5. */
  longTrendWeight?: number;
  /**
   * Blend: score = longWeight · long-term / its max + (1 − longWeight) · session / its max.
   * Default 0.7 (README: Last.fm wants 1, the synthetic data, driven by hyped releases, 0;
   * 0.7 keeps the synthetic hit-rate within 0.02 of the session-only model).
   */
  longWeight?: number;
  /**
   * Latent factors (implicit ALS over the users' long-term profiles, ials.ts, README): the
   * blend becomes (1 − factorWeight) · the score above + factorWeight · min(1, F(c)), F the
   * user's vector (folded in from their profile at query time) · the track's factors (the
   * predicted preference; F ≤ 0.01 is no candidate). Used
   * only once factors are trained (`retrainFactors()`, or `factorRetrainEvery`) and when the
   * user has a profile track among the modelled ones; otherwise the score above, unchanged.
   * 0 disables. Default 0.8 (README: Last.fm and synthetic measurements).
   */
  factorWeight?: number;
  /** Latent factors per track and user. Default 64. */
  factors?: number;
  /** Tracks given factors: the ones in the most profiles. Default 4,000 (training and query cost ∝ it). */
  factorItems?: number;
  /** ALS L2 regularization. Default 50. */
  factorReg?: number;
  /** ALS confidence 1 + factorAlpha · (net profile weight). Default 2. */
  factorAlpha?: number;
  /** ALS iterations of a training from scratch. Default 15. */
  factorIterations?: number;
  /**
   * ALS iterations of a retraining that starts from the previous item factors (warm start;
   * the tracks both trainings model keep theirs, new ones start random). 0: every retraining
   * starts from scratch with `factorIterations`. Default 4.
   */
  factorWarmIterations?: number;
  /** Seed of the factors' initialization. Default 1. */
  factorSeed?: number;
  /**
   * Users whose profiles train the factors: the most recently active ones (training cost ∝
   * their profile entries: ~5 s CPU per 1,000 users of 64 entries at the defaults). Users
   * beyond it still get factor scores (folded in from their profile at query time). Default 10,000.
   */
  factorMaxUsers?: number;
  /**
   * Retrain the factors inside `observe` after every this many interactions (that call then
   * costs a whole training: seconds at 100k users; for offline runs). 0 = never: the owner
   * calls `retrainFactors()` / `retrainFactorsSteps()` on its own schedule. Default 0.
   */
  factorRetrainEvery?: number;
}

export type ResolvedItemKnnOptions = Required<Omit<ItemKnnOptions, 'weights'>> & { weights: FeedbackWeights };

export const ITEM_KNN_DEFAULTS: ResolvedItemKnnOptions = {
  halfLifeMs: 7 * DAY_MS,
  historySize: 100,
  maxUsers: 100_000,
  maxItems: 50_000,
  maxNeighbors: 200,
  pruneTo: 0.8,
  pairWindow: 3,
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
  profileSize: 64,
  longPairs: 8,
  longHalfLifeMs: 90 * DAY_MS,
  longAlpha: 0.5,
  locality: 0.5,
  longWeight: 0.7,
  longTrendWeight: 0.5,
  popularityFill: true,
  factorWeight: 0.8,
  factors: 64,
  factorItems: 4000,
  factorReg: 50,
  factorAlpha: 2,
  factorIterations: 15,
  factorWarmIterations: 4,
  factorSeed: 1,
  factorMaxUsers: 10_000,
  factorRetrainEvery: 0,
};

/** Defaults filled in and every option checked; throws RangeError on an out-of-range value. */
export function resolveOptions(options: ItemKnnOptions = {}): ResolvedItemKnnOptions {
  const o: ResolvedItemKnnOptions = {
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
    'profileSize',
    'longPairs',
    'factors',
    'factorItems',
    'factorMaxUsers',
  ] as const)
    positiveInt(o[k], k);
  for (const k of ['factorIterations', 'factorWarmIterations', 'factorRetrainEvery'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 0))
      throw new RangeError(`${k} must be an integer ≥ 0, got ${o[k]}`);
  }
  if (!Number.isFinite(o.factorSeed)) throw new RangeError(`factorSeed must be finite, got ${o.factorSeed}`);
  positiveNumber(o.factorReg, 'factorReg');
  if (!(o.factorAlpha >= 0 && Number.isFinite(o.factorAlpha)))
    throw new RangeError(`factorAlpha must be a finite number ≥ 0, got ${o.factorAlpha}`);
  if (o.factors > 1024) throw new RangeError(`factors must be ≤ 1024, got ${o.factors}`);
  for (const k of [
    'halfLifeMs',
    'trendHalfLifeMs',
    'pairWindowMs',
    'queryHalfLifeMs',
    'longHalfLifeMs',
  ] as const)
    positiveNumber(o[k], k);
  for (const k of ['pruneTo', 'proximityDecay', 'queryDecay', 'skipEdgeFactor', 'locality'] as const) {
    if (!(o[k] > 0 && o[k] <= 1)) throw new RangeError(`${k} must be in (0, 1], got ${o[k]}`);
  }
  for (const k of ['alpha', 'longAlpha', 'longWeight', 'factorWeight'] as const) {
    if (!(o[k] >= 0 && o[k] <= 1)) throw new RangeError(`${k} must be in [0, 1], got ${o[k]}`);
  }
  if (!(o.skipPenalty >= 0) || !(o.artistBoost >= 0) || !(o.trendWeight >= 0) || !(o.longTrendWeight >= 0))
    throw new RangeError('skipPenalty, artistBoost, trendWeight and longTrendWeight must be ≥ 0');
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
  return o;
}

/** The implicit-feedback weight the model gives an interaction. */
export function feedbackWeight(o: ResolvedItemKnnOptions, i: Interaction): number {
  const w = o.weights;
  switch (i.kind) {
    case 'like':
      return w.like;
    case 'add':
      return w.add;
    case 'skip':
      return w.skip;
    case 'play': {
      const c = i.completion ?? 1;
      if (c >= o.completeAt) return w.completedPlay;
      return c < o.earlyExitAt ? w.earlyExit : w.partialPlay;
    }
  }
}
