import { decayFactor } from './decay.ts';
import type { ItemState, KnnState } from './graph.ts';
import { IntSlots } from './int-slots.ts';
import { factorItem, factorQuery, type FactorQuery, type KnnFactors } from './knn-factors.ts';
import { byScoreThenId } from './popularity.ts';
import type { InteractionKind, Recommendation } from './types.ts';

/** A predicted preference at or below this is no signal: the track is not a factor candidate. */
const FACTOR_FLOOR = 0.01;

const VERB: Record<InteractionKind, string> = {
  play: 'played',
  like: 'liked',
  add: 'added',
  skip: 'skipped',
};

interface Seed {
  trackId: string;
  item: ItemState;
  kind: InteractionKind;
  /** Session seed weight (recent, recency-weighted), 0 = not a session seed. */
  s: number;
  /** Long-term seed weight (1 for a profile track with positive net feedback), 0 = not one. */
  l: number;
}

/**
 * The user's top `limit` at `now`. Reentrant: every accumulator is local to the call (nothing
 * is written to the shared item states), so interleaved or nested queries cannot disturb
 * each other, and a query never changes the model (not even LRU recency).
 *
 * score(c) = longWeight · L(c) / max L + (1 − longWeight) · S(c) / max S, then × trend
 * × skip damping (× artist affinity if on), where
 *   L(c) = Σ over the user's profile tracks r of (C_long(r, c) / (U(r)^(1−longAlpha) U(c)^longAlpha))^locality
 *   S(c) = Σ over the user's recent tracks r of seed(r) · C_sess(r, c) / (P(r)^(1−alpha) P(c)^alpha)
 * With latent factors (`factors` trained, factorWeight > 0, the user has a modelled profile
 * track): score(c) = (1 − factorWeight) · the above + factorWeight · min(1, F(c)) (F ≤ 0.01
 * counts 0), F = the user's folded-in vector · c's factors (knn-factors.ts); a track the
 * factors were not trained on (new since the last retraining) keeps the score above alone.
 * Tracks in the user's ring or profile are excluded; too few candidates are filled from the
 * decayed popularity ranking.
 */
export function recommendFor(
  st: KnnState,
  userId: string,
  limit: number,
  now: number,
  factors?: KnnFactors,
): Recommendation[] {
  const { o, graph } = st;
  const user = st.users.peek(userId);
  const heardIds = new Set<string>();
  const heard = new Set<ItemState>();
  const seeds: Seed[] = [];
  const seedOf = new Map<ItemState, Seed>();
  const artistW = new Map<string, number>();
  let totalW = 0;
  if (user) {
    // Session seeds: net weight per distinct recent track, in order of its latest appearance.
    const net = new Map<
      string,
      { w: number; ts: number; kind: InteractionKind; kindW: number; item: ItemState }
    >();
    for (const e of user.ring.newestFirst()) {
      heardIds.add(e.trackId);
      const p = net.get(e.trackId);
      if (!p) net.set(e.trackId, { w: e.weight, ts: e.ts, kind: e.kind, kindW: e.weight, item: e.item });
      else {
        p.w += e.weight;
        if (e.weight > p.kindW) {
          p.kind = e.kind;
          p.kindW = e.weight;
        }
      }
    }
    let rank = 0;
    for (const [trackId, p] of net) {
      const item = graph.live(p.item);
      if (!item) continue;
      heard.add(item);
      if (p.w <= 0 || item.pos <= 0 || rank >= o.queryDepth) continue;
      const w = p.w * o.queryDecay ** rank * decayFactor(now - p.ts, o.queryHalfLifeMs);
      rank++;
      const seed: Seed = { trackId, item, kind: p.kind, s: w, l: 0 };
      seeds.push(seed);
      seedOf.set(item, seed);
      totalW += w;
      if (item.artistId !== undefined) artistW.set(item.artistId, (artistW.get(item.artistId) ?? 0) + w);
    }
    // Long-term seeds: the profile.
    for (const p of user.profile) {
      heardIds.add(p.trackId);
      const item = graph.live(p.item);
      if (!item) continue;
      heard.add(item);
      if (p.w <= 0 || item.users <= 0 || o.longWeight === 0) continue;
      let seed = seedOf.get(item);
      if (!seed) {
        seed = { trackId: p.trackId, item, kind: p.kind, s: 0, l: 0 };
        seeds.push(seed);
        seedOf.set(item, seed);
      }
      seed.l = 1;
    }
  }

  // Votes, accumulated per candidate in call-local typed arrays, indexed through a
  // call-local IntSlots table by the candidate's uid (no allocation per vote).
  const fq = factors && st.o.factorWeight > 0 ? factorQuery(factors, user) : undefined;
  const acc = Votes.take();
  try {
    return score(st, acc, seeds, heard, heardIds, artistW, totalW, limit, now, fq);
  } finally {
    Votes.give(acc);
  }
}

/** The votes of the seeds, the blend, the ranking and the fill (recommendFor's second half). */
function score(
  st: KnnState,
  acc: Votes,
  seeds: Seed[],
  heard: Set<ItemState>,
  heardIds: Set<string>,
  artistW: Map<string, number>,
  totalW: number,
  limit: number,
  now: number,
  fq: FactorQuery | undefined,
): Recommendation[] {
  const { o, graph } = st;
  const at = acc.at;
  const a = o.alpha;
  const la = o.longAlpha;
  const q = o.locality;
  for (let si = 0; si < seeds.length; si++) {
    const sd = seeds[si] as Seed;
    if (sd.s > 0 && o.longWeight < 1) {
      const f = sd.s / sd.item.pos ** (1 - a);
      const l = sd.item.sess;
      for (let e = 0; e < l.size; e++) {
        const c = l.nb[e] as ItemState;
        if (c.evicted) continue;
        let k = at.get(c.uid);
        if (k === -1) k = acc.add(c);
        const x = f * (l.w[e] as number);
        acc.accS[k] = (acc.accS[k] as number) + x;
        if (x > (acc.bestS[k] as number)) {
          acc.bestS[k] = x;
          acc.whyS[k] = si;
        }
      }
    }
    if (sd.l > 0) {
      const f = 1 / sd.item.users ** (1 - la);
      const l = sd.item.long;
      for (let e = 0; e < l.size; e++) {
        const c = l.nb[e] as ItemState;
        if (c.evicted) continue;
        let k = at.get(c.uid);
        if (k === -1) k = acc.add(c);
        const w = f * (l.w[e] as number);
        const x = q === 1 ? w : q === 0.5 ? Math.sqrt(w) : w ** q;
        acc.accL[k] = (acc.accL[k] as number) + x;
        if (x > (acc.bestL[k] as number)) {
          acc.bestL[k] = x;
          acc.whyL[k] = si;
        }
      }
    }
  }

  // Factor scores: F(c) is the model's predicted preference (implicit ALS fits 0/1), used
  // as it is (capped at 1), not scaled to the user's best: a user the factors know little
  // about gets small F everywhere, and scaling would make noise look certain. Tracks with
  // F(c) above FACTOR_FLOOR are candidates.
  let maxF = 0;
  if (fq) {
    const fs = fq.scores;
    for (let i = 0; i < fs.length; i++) {
      const x = Math.min(1, fs[i] as number);
      if (!(x > FACTOR_FLOOR)) continue;
      const c = factorItem(graph, fq.f, i);
      if (!c || heard.has(c) || c.pos <= 0) continue;
      let k = at.get(c.uid);
      if (k === -1) k = acc.add(c);
      acc.accF[k] = x;
      if (x > maxF) maxF = x;
    }
  }

  // Candidate-level normalization (P(c)^α, U(c)^(longAlpha·locality)); the trend lifts the
  // session part (what is rising now) before each part is scaled to its max; then the blend.
  const { cands, accS, accL, accF, bestS, bestL, whyS, whyL } = acc;
  const n = acc.n;
  const sNorm = new Float64Array(n);
  const lNorm = new Float64Array(n);
  const trendOffset = (now - graph.landmark) * (1 / o.halfLifeMs - 1 / o.trendHalfLifeMs);
  let maxS = 0;
  let maxL = 0;
  for (let k = 0; k < n; k++) {
    const c = cands[k] as ItemState;
    if (heard.has(c) || c.pos <= 0) continue;
    const trend = c.recent > 0 ? Math.log2(c.recent / c.pos) + trendOffset : 0;
    let sv = (accS[k] as number) / c.pos ** a;
    if (sv > 0 && o.trendWeight > 0) sv *= 2 ** (o.trendWeight * trend);
    let lv = c.users > 0 ? (accL[k] as number) / c.users ** (la * q) : 0;
    if (lv > 0 && o.longTrendWeight > 0) lv *= 2 ** (o.longTrendWeight * trend);
    sNorm[k] = sv;
    lNorm[k] = lv;
    if (sv > maxS) maxS = sv;
    if (lv > maxL) maxL = lv;
  }
  const wS = maxS > 0 ? (1 - o.longWeight) / maxS : 0;
  const wL = maxL > 0 ? o.longWeight / maxL : 0;
  // The factors abstain on tracks they were not trained on (new since the last retraining):
  // those keep the kNN score alone; a track seen in training but outside the modelled top
  // counts F = 0.
  const fw = maxF > 0 ? o.factorWeight : 0;
  const known = fq?.f.known;
  const top: { trackId: string; score: number; because: number; fIdx: number }[] = [];
  for (let k = 0; k < n; k++) {
    const c = cands[k] as ItemState;
    if (heard.has(c) || c.pos <= 0) continue;
    const mix = fw > 0 && known?.has(c.trackId) ? 1 - fw : 1;
    const fromF = fw * (accF[k] as number);
    let score = mix * (wS * (sNorm[k] as number) + wL * (lNorm[k] as number)) + fromF;
    if (!(score > 0)) continue;
    if (c.neg > 0 && o.skipPenalty > 0) score /= 1 + (o.skipPenalty * c.neg) / c.pos;
    if (o.artistBoost > 0 && c.artistId !== undefined && totalW > 0)
      score *= 1 + (o.artistBoost * (artistW.get(c.artistId) ?? 0)) / totalW;
    // The reason: the seed with the largest single contribution, in blended units.
    const aS = accS[k] as number;
    const aL = accL[k] as number;
    const fromS = aS > 0 ? (mix * wS * (sNorm[k] as number) * (bestS[k] as number)) / aS : 0;
    const fromL = aL > 0 ? (mix * wL * (lNorm[k] as number) * (bestL[k] as number)) / aL : 0;
    let because = fromS >= fromL && (whyS[k] as number) >= 0 ? (whyS[k] as number) : (whyL[k] as number);
    // −2: the factor part dominates (or is all there is); resolved below for the final list only.
    if (fq && (fromF > Math.max(fromS, fromL) || because < 0)) because = -2;
    const fIdx = because === -2 && fq ? (fq.f.model.index.get(c.trackId) ?? -1) : -1;
    const entry = { trackId: c.trackId, score, because, fIdx };
    const last = top[top.length - 1];
    if (top.length >= limit && last && byScoreThenId(entry, last) >= 0) continue;
    let j = top.length;
    top.push(entry);
    while (j > 0 && byScoreThenId(entry, top[j - 1] as typeof entry) < 0) {
      top[j] = top[j - 1] as typeof entry;
      j--;
    }
    top[j] = entry;
    if (top.length > limit) top.pop();
  }
  const out: Recommendation[] = top.map((t) => {
    if (t.because === -2 && fq) {
      // The user's modelled profile track closest to it in factor space (O(profile · f)).
      const m = fq.f.model;
      let best = fq.seeds[0] as FactorQuery['seeds'][number];
      let bestDot = -Infinity;
      if (t.fIdx >= 0)
        for (const sd of fq.seeds) {
          const d = m.itemDot(sd.idx, t.fIdx);
          if (d > bestDot) {
            bestDot = d;
            best = sd;
          }
        }
      return { trackId: t.trackId, score: t.score, reason: `because you ${VERB[best.kind]} ${best.trackId}` };
    }
    const sd = seeds[t.because] as Seed;
    return { trackId: t.trackId, score: t.score, reason: `because you ${VERB[sd.kind]} ${sd.trackId}` };
  });
  if (out.length < limit && o.popularityFill) fill(st, out, limit, heardIds, now, seeds.length === 0);
  return out;
}

/**
 * The candidates of one query and their votes, in parallel typed arrays grown by doubling.
 * Taken from a small pool and given back cleared (only the part used is reset), so a query
 * allocates nothing once warm; a query that runs while another holds one (nothing does
 * today: scoring never yields) simply gets another: call-local, hence reentrant.
 */
class Votes {
  static readonly #pool: Votes[] = [];
  readonly at = new IntSlots(256);
  readonly cands: ItemState[] = [];
  n = 0;
  accS = new Float64Array(256);
  accL = new Float64Array(256);
  accF = new Float64Array(256);
  bestS = new Float64Array(256);
  bestL = new Float64Array(256);
  whyS = new Int32Array(256).fill(-1);
  whyL = new Int32Array(256).fill(-1);

  static take(): Votes {
    return Votes.#pool.pop() ?? new Votes();
  }

  static give(v: Votes): void {
    const n = v.n;
    v.accS.fill(0, 0, n);
    v.accL.fill(0, 0, n);
    v.accF.fill(0, 0, n);
    v.bestS.fill(0, 0, n);
    v.bestL.fill(0, 0, n);
    v.whyS.fill(-1, 0, n);
    v.whyL.fill(-1, 0, n);
    v.cands.length = 0;
    v.n = 0;
    v.at.clear();
    if (Votes.#pool.length < 4) Votes.#pool.push(v);
  }

  /** A new candidate's index. */
  add(c: ItemState): number {
    const k = this.n++;
    if (k === this.accS.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T, fill: number): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.fill(fill, a.length);
        b.set(a);
        return b;
      };
      this.accS = grow(this.accS, 0);
      this.accL = grow(this.accL, 0);
      this.accF = grow(this.accF, 0);
      this.bestS = grow(this.bestS, 0);
      this.bestL = grow(this.bestL, 0);
      this.whyS = grow(this.whyS, -1);
      this.whyL = grow(this.whyL, -1);
    }
    this.at.set(c.uid, k);
    this.cands.push(c);
    return k;
  }
}

/** Appends popular tracks (not heard, not already listed) after the kNN results, scored below them. */
function fill(
  st: KnnState,
  out: Recommendation[],
  limit: number,
  heard: Set<string>,
  now: number,
  cold: boolean,
): void {
  const taken = new Set(out.map((r) => r.trackId));
  const last = out.at(-1);
  const reason = cold
    ? 'popular now (cold start: not enough listening history yet)'
    : 'popular now (filling in: few similar tracks)';
  let scale = 1;
  for (const trackId of st.pop.top()) {
    if (out.length >= limit) break;
    if (heard.has(trackId) || taken.has(trackId)) continue;
    const pop = st.pop.scoreAt(trackId, now);
    if (last && scale === 1) scale = pop > 0 ? last.score / (2 * pop) : 0;
    out.push({ trackId, score: pop * scale, reason });
  }
}
