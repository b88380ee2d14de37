import { byScoreThenId, checkLimit } from './popularity.ts';
import { checkInteraction, type Interaction, type Recommendation, type Recommender } from './types.ts';

export interface CosineKnnOptions {
  /** How a user's plays of an item become the matrix entry: 1 (`binary`) or log2(1 + plays) (`log`). Default `binary`. */
  weighting?: 'binary' | 'log';
}

/**
 * The textbook baseline: item-based kNN with cosine similarity over the user × item matrix
 * of positive interactions (plays, likes, adds; skips ignored), no decay, no sessions:
 * score(c) = Σ_{i ∈ items(u)} cos(i, c), cos(i, c) = Σ_v r_vi r_vc / (‖r_·i‖ ‖r_·c‖).
 *
 * Computed exactly at query time without materializing the item × item matrix:
 * score(c) = (1/‖c‖) Σ_v r_vc · a_v with a_v = Σ_{i ∈ items(u)} r_vi / ‖i‖, which costs
 * Σ_i |users(i)| + Σ_{v: a_v > 0} |items(v)| per query.
 *
 * An evaluation baseline only: it keeps the whole matrix (no bounds), takes no `now` into
 * account and has no snapshot.
 */
export class CosineKnnRecommender implements Recommender {
  readonly name: string;
  readonly weighting: 'binary' | 'log';
  readonly #users = new Map<string, Map<string, number>>();
  readonly #items = new Map<string, Map<string, number>>();
  /** ‖r_·i‖ per item, valid until the next observe. */
  readonly #norms = new Map<string, number>();

  constructor(options: CosineKnnOptions = {}) {
    this.weighting = options.weighting ?? 'binary';
    this.name = this.weighting === 'binary' ? 'cosine-knn' : 'cosine-knn (log plays)';
  }

  observe(i: Interaction): void {
    checkInteraction(i);
    if (i.kind === 'skip') return;
    this.#norms.clear();
    let row = this.#users.get(i.userId);
    if (!row) this.#users.set(i.userId, (row = new Map<string, number>()));
    row.set(i.trackId, (row.get(i.trackId) ?? 0) + 1);
    let col = this.#items.get(i.trackId);
    if (!col) this.#items.set(i.trackId, (col = new Map<string, number>()));
    col.set(i.userId, (col.get(i.userId) ?? 0) + 1);
  }

  #r(plays: number): number {
    return this.weighting === 'binary' ? 1 : Math.log2(1 + plays);
  }

  #norm(item: string): number {
    let n = this.#norms.get(item);
    if (n === undefined) {
      let s = 0;
      for (const p of (this.#items.get(item) as Map<string, number>).values()) s += this.#r(p) ** 2;
      this.#norms.set(item, (n = Math.sqrt(s)));
    }
    return n;
  }

  recommend(userId: string, limit: number, _now: number): Recommendation[] {
    checkLimit(limit);
    const mine = this.#users.get(userId);
    if (!mine || limit === 0) return [];
    const a = new Map<string, number>();
    for (const item of mine.keys()) {
      const col = this.#items.get(item) as Map<string, number>;
      const n = this.#norm(item);
      for (const [v, p] of col) a.set(v, (a.get(v) ?? 0) + this.#r(p) / n);
    }
    const dot = new Map<string, number>();
    for (const [v, av] of a) {
      for (const [c, p] of this.#users.get(v) as Map<string, number>) {
        if (!mine.has(c)) dot.set(c, (dot.get(c) ?? 0) + av * this.#r(p));
      }
    }
    const scored: Recommendation[] = [];
    for (const [c, d] of dot) {
      scored.push({ trackId: c, score: d / this.#norm(c), reason: '' });
    }
    scored.sort(byScoreThenId);
    return scored.slice(0, limit).map((r) => ({ ...r, reason: 'similar listeners (cosine)' }));
  }

  snapshot(): unknown {
    throw new Error('cosine-knn is an evaluation baseline without snapshots');
  }

  restore(_state: unknown): void {
    throw new Error('cosine-knn is an evaluation baseline without snapshots');
  }
}
