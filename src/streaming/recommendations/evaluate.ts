import { UserHistories } from './history.ts';
import { checkLimit } from './popularity.ts';
import { asArray, asFinite, asObject, asString, expectHeader } from './snapshot-check.ts';
import { mulberry32 } from './synthetic.ts';
import {
  checkInteraction,
  type Interaction,
  type Recommendation,
  type Recommender,
  type UserInteraction,
} from './types.ts';

/** One user's test: recommend at `cutoffTs` (having learned everything before it), score against `heldOut`. */
export interface EvalCase {
  userId: string;
  cutoffTs: number;
  heldOut: string[];
  /** The user's own interactions before the cutoff. */
  trainEvents: number;
}

export interface HoldoutOptions {
  /** Held-out positives per user. Default 5. */
  holdout?: number;
  /** Users with fewer interactions of their own before the cutoff are not tested. Default 10. */
  minTrainEvents?: number;
  /** Which plays are relevant (e.g. in taste and mostly completed). Only first listens count: a track the user already interacted with is never held out. */
  isRelevant: (i: Interaction) => boolean;
}

/**
 * Leave-last-out in time order: each user's last `holdout` relevant first-listen plays are
 * held out; the cutoff is the time of the first of them, and none of the user's own
 * interactions from the cutoff on are learned (other users' are, up to each test's time).
 */
export function leaveLastOut(interactions: readonly Interaction[], options: HoldoutOptions): EvalCase[] {
  const holdout = options.holdout ?? 5;
  const minTrain = options.minTrainEvents ?? 10;
  const perUser = new Map<string, Interaction[]>();
  for (const i of interactions) {
    let l = perUser.get(i.userId);
    if (!l) perUser.set(i.userId, (l = []));
    l.push(i);
  }
  const cases: EvalCase[] = [];
  for (const [userId, events] of perUser) {
    const heard = new Set<string>();
    const firsts: Interaction[] = [];
    for (const e of events) {
      if (e.kind === 'play' && !heard.has(e.trackId) && options.isRelevant(e)) firsts.push(e);
      heard.add(e.trackId);
    }
    if (firsts.length < holdout) continue;
    const held = firsts.slice(-holdout);
    const cutoffTs = (held[0] as Interaction).ts;
    const trainEvents = events.filter((e) => e.ts < cutoffTs).length;
    if (trainEvents < minTrain) continue;
    cases.push({ userId, cutoffTs, heldOut: held.map((e) => e.trackId), trainEvents });
  }
  cases.sort((a, b) => a.cutoffTs - b.cutoffTs || (a.userId < b.userId ? -1 : 1));
  return cases;
}

/**
 * The control that proves the evaluation can fail: every user's held-out tracks replaced
 * by tracks drawn uniformly (seeded) from the catalog, none the user heard before the cutoff.
 */
export function shuffleLabels(
  cases: readonly EvalCase[],
  interactions: readonly Interaction[],
  seed: number,
): EvalCase[] {
  const rnd = mulberry32(seed);
  const catalog = [...new Set(interactions.map((i) => i.trackId))].sort();
  const cutoff = new Map(cases.map((c) => [c.userId, c.cutoffTs]));
  const heard = new Map<string, Set<string>>();
  for (const i of interactions) {
    const t = cutoff.get(i.userId);
    if (t === undefined || i.ts >= t) continue;
    let s = heard.get(i.userId);
    if (!s) heard.set(i.userId, (s = new Set()));
    s.add(i.trackId);
  }
  return cases.map((c) => {
    const out = new Set<string>();
    const h = heard.get(c.userId) ?? new Set<string>();
    while (out.size < c.heldOut.length && out.size + h.size < catalog.length) {
      const t = catalog[Math.floor(rnd() * catalog.length)] as string;
      if (!h.has(t)) out.add(t);
    }
    return { ...c, heldOut: [...out] };
  });
}

export interface ModelMetrics {
  model: string;
  /** Share of users with ≥ 1 held-out track in their top k. */
  hitRate: number;
  /** Mean of hits / k. */
  precision: number;
  /** Mean of hits / held-out count. */
  recall: number;
  /** Distinct tracks recommended to anyone / tracks in the stream. */
  coverage: number;
  observeMs: number;
  recommendMs: number;
}

export interface EvalReport {
  k: number;
  users: number;
  /** Interactions learned (the stream minus each tested user's own tail). */
  events: number;
  catalog: number;
  models: ModelMetrics[];
}

/**
 * Streams `interactions` in time order into every model at once; just before the first
 * event at or after a case's cutoff, asks each model for its top k for that user (with
 * now = cutoff). A tested user's own interactions from the cutoff on are withheld.
 */
export function evaluate(
  interactions: readonly Interaction[],
  cases: readonly EvalCase[],
  models: readonly Recommender[],
  k = 10,
): EvalReport {
  const sorted = [...cases].sort((a, b) => a.cutoffTs - b.cutoffTs || (a.userId < b.userId ? -1 : 1));
  const cutoff = new Map(sorted.map((c) => [c.userId, c.cutoffTs]));
  const acc = models.map((m) => ({
    model: m.name,
    hits: 0,
    precision: 0,
    recall: 0,
    covered: new Set<string>(),
    observeMs: 0,
    recommendMs: 0,
  }));
  const catalog = new Set<string>();
  let next = 0;
  let events = 0;
  const test = (c: EvalCase): void => {
    const held = new Set(c.heldOut);
    models.forEach((m, mi) => {
      const a = acc[mi] as (typeof acc)[number];
      const t0 = performance.now();
      const recs = m.recommend(c.userId, k, c.cutoffTs);
      a.recommendMs += performance.now() - t0;
      let hits = 0;
      for (const r of recs) {
        a.covered.add(r.trackId);
        if (held.has(r.trackId)) hits++;
      }
      if (hits > 0) a.hits++;
      a.precision += hits / k;
      a.recall += hits / held.size;
    });
  };
  for (const i of interactions) {
    while (next < sorted.length && (sorted[next] as EvalCase).cutoffTs <= i.ts)
      test(sorted[next++] as EvalCase);
    catalog.add(i.trackId);
    const t = cutoff.get(i.userId);
    if (t !== undefined && i.ts >= t) continue;
    events++;
    models.forEach((m, mi) => {
      const t0 = performance.now();
      m.observe(i);
      (acc[mi] as (typeof acc)[number]).observeMs += performance.now() - t0;
    });
  }
  while (next < sorted.length) test(sorted[next++] as EvalCase);
  const n = Math.max(1, sorted.length);
  return {
    k,
    users: sorted.length,
    events,
    catalog: catalog.size,
    models: acc.map((a) => ({
      model: a.model,
      hitRate: a.hits / n,
      precision: a.precision / n,
      recall: a.recall / n,
      coverage: catalog.size ? a.covered.size / catalog.size : 0,
      observeMs: a.observeMs,
      recommendMs: a.recommendMs,
    })),
  };
}

export function metricsOf(report: EvalReport, model: string): ModelMetrics {
  const m = report.models.find((x) => x.model === model);
  if (!m) throw new Error(`no model ${model} in the report`);
  return m;
}

/** The "clearly wins" bar: hit-rate ≥ `ratio` × the baseline's AND ≥ baseline + `margin` (absolute). */
export function clearlyBeats(
  model: ModelMetrics,
  baseline: ModelMetrics,
  ratio = 1.5,
  margin = 0.15,
): boolean {
  return model.hitRate >= ratio * baseline.hitRate && model.hitRate >= baseline.hitRate + margin;
}

/**
 * The floor: uniformly random tracks seen so far (seeded), minus the user's history.
 * Deterministic given the seed and the sequence of calls.
 */
export class RandomRecommender implements Recommender {
  readonly name = 'random';
  #state: number;
  #catalog: string[] = [];
  #known = new Set<string>();
  readonly #history = new UserHistories(100, 100_000);

  constructor(seed = 1) {
    this.#state = seed >>> 0;
  }

  #next(): number {
    // mulberry32 step on an explicit state (so snapshots can carry it).
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  observe(i: Interaction): void {
    checkInteraction(i);
    if (!this.#known.has(i.trackId)) {
      this.#known.add(i.trackId);
      this.#catalog.push(i.trackId);
    }
    this.#history.touch(i.userId).push({ trackId: i.trackId, kind: i.kind, weight: 0, ts: i.ts });
  }

  forget(userId: string): boolean {
    return this.#history.forget(userId);
  }

  userState(userId: string): UserInteraction[] {
    return this.#history.entries(userId);
  }

  recommend(userId: string, limit: number, _now: number): Recommendation[] {
    checkLimit(limit);
    const heard = this.#history.heard(userId);
    const out: Recommendation[] = [];
    const taken = new Set<string>();
    for (let tries = 0; out.length < limit && tries < 20 * limit + 100; tries++) {
      const t = this.#catalog[Math.floor(this.#next() * this.#catalog.length)];
      if (t === undefined || heard.has(t) || taken.has(t)) continue;
      taken.add(t);
      out.push({ trackId: t, score: 0, reason: 'random pick' });
    }
    return out;
  }

  snapshot(): unknown {
    return {
      kind: this.name,
      version: 1,
      state: this.#state,
      catalog: [...this.#catalog],
      users: this.#history.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = asObject(state, 'snapshot');
    expectHeader(s, this.name, 1);
    const st = asFinite(s['state'], 'state');
    const catalog = asArray(s['catalog'], 'catalog').map((t, i) => asString(t, `catalog[${i}]`));
    const users = this.#history.parse(s['users'], 'users');
    this.#state = st >>> 0;
    this.#catalog = catalog;
    this.#known = new Set(catalog);
    this.#history.replace(users);
  }
}
