import { ItemGraph, kthLargest, learn, type ItemState, type KnnState } from './graph.ts';
import { KnnUsers } from './knn-users.ts';
import { trainFactorSteps, type KnnFactors } from './knn-factors.ts';
import { restoreKnn, snapshotKnn } from './knn-snapshot.ts';
import { runSteps, type Steps } from '../snapshots/steps.ts';
import {
  feedbackWeight,
  ITEM_KNN_DEFAULTS,
  resolveOptions,
  type FeedbackWeights,
  type ItemKnnOptions,
  type ResolvedItemKnnOptions,
} from './options.ts';
import { checkLimit, DecayedPopularity } from './popularity.ts';
import { recommendFor } from './scoring.ts';
import {
  checkInteraction,
  type Interaction,
  type Recommendation,
  type Recommender,
  type UserInteraction,
} from './types.ts';

export { ITEM_KNN_DEFAULTS, kthLargest, type FeedbackWeights, type ItemKnnOptions };

/** What one model holds, for bound checks and metrics. */
export interface ItemKnnStats {
  items: number;
  users: number;
  /** Longest neighbour list (session or long-term). */
  maxNeighbors: number;
  maxHistory: number;
  maxProfile: number;
  /** Session co-occurrence edges. */
  edges: number;
  /** Long-term co-occurrence edges. */
  longEdges: number;
  popularityItems: number;
}

/**
 * Item-kNN learned online from plays, likes, playlist adds and skips, blending long-term
 * taste (co-occurrence over each user's whole retained profile, cosine-normalized) with
 * session context (co-occurrence within listening windows, recency-weighted), lifted by
 * what is trending and damped by skips; cold users get the decayed popularity ranking.
 * See README.md (the model, its bounds, the measurements).
 *
 * The parts: options.ts (defaults, validation, feedback weights), graph.ts (the online
 * update: counts, edges, pruning, decay), scoring.ts (recommend), knn-snapshot.ts
 * (snapshot / restore), knn-users.ts (per-user ring and profile).
 */
export class ItemKnnRecommender implements Recommender {
  readonly name = 'item-knn';
  readonly options: ResolvedItemKnnOptions;
  readonly #st: KnnState;
  /** Reused by observe to dedupe a session's tracks (observe is synchronous and never re-entered). */
  readonly #seen: ItemState[] = [];
  /** Latent factors (knn-factors.ts), undefined until the first retraining; not snapshotted. */
  #factors: KnnFactors | undefined;
  /** Interactions learned since the factors were last (re)trained (`factorRetrainEvery`). */
  #sinceRetrain = 0;

  constructor(options: ItemKnnOptions = {}) {
    const o = resolveOptions(options);
    this.options = o;
    this.#st = {
      o,
      graph: new ItemGraph(o),
      users: new KnnUsers(o.historySize, o.profileSize, o.maxUsers),
      pop: new DecayedPopularity(o.halfLifeMs, o.maxItems, o.popularTopSize),
    };
  }

  /** The implicit-feedback weight the model gives an interaction. */
  weightOf(i: Interaction): number {
    return feedbackWeight(this.options, i);
  }

  observe(i: Interaction): void {
    checkInteraction(i);
    learn(this.#st, i, feedbackWeight(this.options, i), this.#seen);
    this.#afterLearn();
  }

  /** `observe` for each interaction, in order (all checked first: a bad one rejects the batch before any is learned). */
  observeBatch(batch: readonly Interaction[]): void {
    for (const i of batch) checkInteraction(i);
    for (const i of batch) {
      learn(this.#st, i, feedbackWeight(this.options, i), this.#seen);
      this.#afterLearn();
    }
  }

  #afterLearn(): void {
    const every = this.options.factorRetrainEvery;
    if (every === 0) return;
    this.#sinceRetrain++;
    if (this.#sinceRetrain >= every) this.retrainFactors();
  }

  /**
   * Retrains the latent factors from every remembered user's long-term profile (implicit ALS,
   * ials.ts): O(iterations · (nnz · f² + (users + factorItems) · f³)); at once. Until the
   * first call `recommend` uses no factors. The service calls it (or the stepped
   * `retrainFactorsSteps`) on its own schedule; see README.md.
   */
  retrainFactors(): KnnFactors {
    return runSteps(this.retrainFactorsSteps());
  }

  /**
   * `retrainFactors()` in steps (snapshots/steps.ts: run it with `runStepsCooperatively`):
   * the profiles are read before the first step, the model may keep learning between steps,
   * and the new factors replace the old ones only after the last step.
   */
  *retrainFactorsSteps(): Steps<KnnFactors> {
    this.#sinceRetrain = 0;
    const f = yield* trainFactorSteps(this.#st, this.#factors);
    this.#factors = f;
    return f;
  }

  /** The current factors' size and training cost, or undefined when none are trained. */
  factorStats(): { users: number; items: number; nnz: number; factors: number; trainMs: number } | undefined {
    const f = this.#factors;
    return (
      f && { users: f.users, items: f.model.items, nnz: f.nnz, factors: f.model.factors, trainMs: f.trainMs }
    );
  }

  /** Drops the factors (`recommend` falls back to the kNN blend until the next retraining). */
  clearFactors(): void {
    this.#factors = undefined;
    this.#sinceRetrain = 0;
  }

  recommend(userId: string, limit: number, now: number): Recommendation[] {
    checkLimit(limit);
    if (limit === 0) return [];
    return recommendFor(this.#st, userId, limit, now, this.#factors);
  }

  forget(userId: string): boolean {
    return this.#st.users.forget(userId);
  }

  userState(userId: string): UserInteraction[] {
    return this.#st.users.entries(userId);
  }

  stats(): ItemKnnStats {
    let maxNeighbors = 0;
    let edges = 0;
    let longEdges = 0;
    for (const it of this.#st.graph.items.values()) {
      maxNeighbors = Math.max(maxNeighbors, it.sess.size, it.long.size);
      edges += it.sess.size;
      longEdges += it.long.size;
    }
    return {
      items: this.#st.graph.items.size,
      users: this.#st.users.size,
      maxNeighbors,
      maxHistory: this.#st.users.maxRingSize(),
      maxProfile: this.#st.users.maxProfileSize(),
      edges,
      longEdges,
      popularityItems: this.#st.pop.size,
    };
  }

  /** The decayed session co-occurrence weight of `a`'s edge to `b` at `now` (0 if none). For tests and inspection. */
  cooccurrence(a: string, b: string, now: number): number {
    const g = this.#st.graph;
    const to = g.items.peek(b);
    const w = to && g.items.peek(a)?.sess.get(to);
    return w === undefined ? 0 : g.valueAt(w, now, this.options.halfLifeMs);
  }

  /** The decayed long-term co-occurrence of `a` and `b` at `now`: users whose profiles hold both (0 if none). */
  longCooccurrence(a: string, b: string, now: number): number {
    const g = this.#st.graph;
    const to = g.items.peek(b);
    const w = to && g.items.peek(a)?.long.get(to);
    return w === undefined ? 0 : g.valueAt(w, now, this.options.longHalfLifeMs);
  }

  /** Flat columns: typed arrays and packed strings (see knn-snapshot.ts for the layout). */
  snapshot(): unknown {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): a caller may let the event loop turn between them. */
  snapshotSteps(): Steps<unknown> {
    return snapshotKnn(this.#st, this.name);
  }

  /** Validates `state` completely, then replaces the model's; throws InvalidSnapshotError (state unchanged) when it is bad. */
  restore(state: unknown): void {
    restoreKnn(this.#st, state, this.name);
    // Factors are not snapshotted: they name the replaced state's tracks; retrain to rebuild them.
    this.clearFactors();
  }
}
