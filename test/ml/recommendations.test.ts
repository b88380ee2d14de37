/**
 * The recommendation model against its baselines, on seeded synthetic listening data with
 * planted tastes (src/streaming/recommendations/synthetic.ts).
 *
 * Thresholds come from measurements on 400 users × 21 days, seeds 1–16 (hit-rate@10):
 *   item-knn / popularity (same 7-day half-life):  ≥ 1.76×, ≥ +0.26 absolute (every seed)
 *   item-knn / popularity (1-day half-life, its best variant):  ≥ 1.41×, ≥ +0.19
 *   precision@10 item-knn / popularity:  ≥ 2.0×
 *   shuffled labels: every model 0.01–0.05, item-knn − popularity ≤ +0.022
 * The bars below sit well inside those (1.5× and +0.15; 1.2× and +0.10; 1.5×; < 0.06).
 *
 * Real data (the last describe): the Last.fm 2K development half (test/fixtures), the first
 * 400 users, split seeds 1 and 2 — precision@10 measured (item-knn / popularity / cosine
 * item-kNN / item-knn without its long-term part): 0.140 / 0.063 / 0.159 / 0.074 and
 * 0.147 / 0.071 / 0.163 / 0.085. So item-knn is 2.1–2.2× popularity and 1.7–1.9× its own
 * session-only variant, but only 0.88–0.90× the plain cosine item-kNN: the bars are ≥ 1.7×,
 * ≥ 1.4× and ≥ 0.8× (the last a regression guard, not a win; see the README).
 */
import { deserialize, serialize } from 'node:v8';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PackedStrings, unpackStrings } from '../../src/streaming/snapshots/columns.ts';
import {
  clearlyBeats,
  CosineKnnRecommender,
  DAY_MS,
  evaluateHoldout,
  loadUserArtists,
  splitListening,
  evaluate,
  generateListening,
  ItemKnnRecommender,
  leaveLastOut,
  metricsOf,
  PopularityRecommender,
  RandomRecommender,
  shuffleLabels,
  type EvalCase,
  type EvalReport,
  type Interaction,
  type Recommender,
  type SyntheticDataset,
} from '../../src/streaming/recommendations/index.ts';

const SIZE = { users: 400, days: 21 };
const SEEDS = [3, 4];

function casesOf(data: SyntheticDataset): EvalCase[] {
  return leaveLastOut(data.interactions, {
    holdout: 5,
    isRelevant: (i) => i.kind === 'play' && (i.completion ?? 1) >= 0.8 && data.inTaste(i.userId, i.trackId),
  });
}

const renamed = (name: string, m: Recommender): Recommender => ({
  name,
  observe: (i) => m.observe(i),
  recommend: (u, l, now) => m.recommend(u, l, now),
  snapshot: () => m.snapshot(),
  restore: (s) => m.restore(s),
});

function models(seed: number): Recommender[] {
  return [
    new ItemKnnRecommender(),
    new PopularityRecommender(),
    renamed('popularity-1d', new PopularityRecommender({ halfLifeMs: DAY_MS })),
    new RandomRecommender(seed),
  ];
}

const datasets = new Map<number, SyntheticDataset>();
const reports = new Map<number, EvalReport>();
beforeAll(() => {
  for (const seed of SEEDS) {
    const data = generateListening({ seed, ...SIZE });
    datasets.set(seed, data);
    reports.set(seed, evaluate(data.interactions, casesOf(data), models(seed), 10));
  }
});

describe('item-knn vs the baselines (leave-last-out, online, hit-rate@10)', () => {
  it.each(SEEDS)(
    'seed %i: item-knn clearly beats popularity, also popularity at its best half-life, and random',
    (seed) => {
      const r = reports.get(seed)!;
      expect(r.users).toBeGreaterThan(350);
      const knn = metricsOf(r, 'item-knn');
      const pop = metricsOf(r, 'popularity');
      const pop1 = metricsOf(r, 'popularity-1d');
      const rnd = metricsOf(r, 'random');
      expect(knn.hitRate).toBeGreaterThanOrEqual(1.5 * pop.hitRate);
      expect(knn.hitRate).toBeGreaterThanOrEqual(pop.hitRate + 0.15);
      expect(clearlyBeats(knn, pop)).toBe(true);
      expect(knn.precision).toBeGreaterThanOrEqual(1.5 * pop.precision);
      expect(knn.recall).toBeGreaterThan(pop.recall);
      expect(knn.hitRate).toBeGreaterThanOrEqual(1.2 * pop1.hitRate);
      expect(knn.hitRate).toBeGreaterThanOrEqual(pop1.hitRate + 0.1);
      expect(knn.precision).toBeGreaterThan(pop1.precision);
      // It does not just echo the charts: it spreads over far more of the catalog.
      expect(knn.coverage).toBeGreaterThan(10 * pop.coverage);
      // And the baselines are real baselines: popularity beats random by a wide margin.
      expect(pop.hitRate).toBeGreaterThan(3 * rnd.hitRate);
    },
  );

  it('control: with held-out tracks replaced by random ones, item-knn loses its edge (the test can fail)', () => {
    const seed = SEEDS[0]!;
    const data = datasets.get(seed)!;
    const real = reports.get(seed)!;
    const r = evaluate(
      data.interactions,
      shuffleLabels(casesOf(data), data.interactions, seed),
      models(seed),
      10,
    );
    const knn = metricsOf(r, 'item-knn');
    const pop = metricsOf(r, 'popularity');
    expect(r.users).toBe(real.users);
    expect(clearlyBeats(knn, pop)).toBe(false);
    expect(knn.hitRate).toBeLessThan(0.12);
    expect(knn.hitRate - pop.hitRate).toBeLessThan(0.06);
    expect(knn.hitRate).toBeLessThan(metricsOf(real, 'item-knn').hitRate / 4);
  });
});

/** The model after the first `share` of a dataset, and the time there. */
function trained(
  data: SyntheticDataset,
  share: number,
): { m: ItemKnnRecommender; now: number; rest: Interaction[] } {
  const m = new ItemKnnRecommender();
  const cut = Math.floor(data.interactions.length * share);
  for (const i of data.interactions.slice(0, cut)) m.observe(i);
  return { m, now: data.interactions[cut - 1]!.ts + 1, rest: data.interactions.slice(cut) };
}
const seedOf = (reason: string): string => reason.replace(/^because you \w+ /, '');

describe('feedback signals move the ranking', () => {
  it('skips push a track down (hand-built)', () => {
    const base = (m: ItemKnnRecommender): void => {
      for (let u = 0; u < 6; u++) {
        const ts = DAY_MS + u * 3_600_000;
        ['A', 'B', 'C'].forEach((t, k) =>
          m.observe({ userId: `u${u}`, trackId: t, kind: 'play', ts: ts + k * 180_000, completion: 1 }),
        );
      }
      m.observe({ userId: 'me', trackId: 'A', kind: 'play', ts: 2 * DAY_MS, completion: 1 });
    };
    const now = 2 * DAY_MS + 1;
    const plain = new ItemKnnRecommender();
    base(plain);
    const before = plain.recommend('me', 2, now);
    expect(before.map((r) => r.trackId)).toEqual(['B', 'C']); // B sits next to A in every session
    const skipped = new ItemKnnRecommender();
    base(skipped);
    for (let u = 0; u < 3; u++) {
      skipped.observe({
        userId: `s${u}`,
        trackId: 'A',
        kind: 'play',
        ts: 2 * DAY_MS - 1000 + u,
        completion: 1,
      });
      skipped.observe({ userId: `s${u}`, trackId: 'B', kind: 'skip', ts: 2 * DAY_MS - 500 + u });
    }
    const after = skipped.recommend('me', 2, now);
    expect(after.map((r) => r.trackId)).toEqual(['C', 'B']);
    expect(after[1]!.score).toBeLessThan(before[0]!.score / 2);
  });

  it('skips push a track down (on a model trained on the synthetic stream)', () => {
    const { m, now } = trained(datasets.get(SEEDS[0]!)!, 0.8);
    const user = 'u7';
    const before = m.recommend(user, 10, now);
    const x = before[0]!;
    expect(x.reason).toMatch(/^because you /);
    const because = seedOf(x.reason);
    for (let u = 0; u < 15; u++) {
      m.observe({ userId: `skipper${u}`, trackId: because, kind: 'play', ts: now + u * 1000, completion: 1 });
      m.observe({ userId: `skipper${u}`, trackId: x.trackId, kind: 'skip', ts: now + u * 1000 + 500 });
    }
    const after = m.recommend(user, 10, now + 20_000);
    const rank = after.findIndex((r) => r.trackId === x.trackId);
    expect(rank === -1 || rank > 0).toBe(true);
    expect(after.find((r) => r.trackId === x.trackId)?.score ?? 0).toBeLessThan(x.score);
  });

  it('likes pull co-occurring tracks up (hand-built)', () => {
    const m = new ItemKnnRecommender();
    const pair = (userId: string, second: string, kind: Interaction['kind'], ts: number): void => {
      m.observe({ userId, trackId: 'A', kind: 'play', ts, completion: 1 });
      m.observe({
        userId,
        trackId: second,
        kind,
        ts: ts + 180_000,
        completion: kind === 'play' ? 1 : undefined,
      });
    };
    for (let u = 0; u < 4; u++) pair(`b${u}`, 'B', 'play', DAY_MS + u * 3_600_000);
    for (let u = 0; u < 3; u++) pair(`c${u}`, 'C', 'play', DAY_MS + u * 3_600_000);
    m.observe({ userId: 'me', trackId: 'A', kind: 'play', ts: 2 * DAY_MS, completion: 1 });
    const before = m.recommend('me', 2, 2 * DAY_MS + 1);
    expect(before.map((r) => r.trackId)).toEqual(['B', 'C']);
    for (let u = 0; u < 2; u++) pair(`l${u}`, 'C', 'like', 2 * DAY_MS + 10 + u);
    const after = m.recommend('me', 2, 2 * DAY_MS + 200_000);
    expect(after.map((r) => r.trackId)).toEqual(['C', 'B']);
  });

  it('a user’s like pulls up the tracks that co-occur with the liked one (trained model)', () => {
    const { m, now } = trained(datasets.get(SEEDS[1]!)!, 0.8);
    const user = 'u11';
    const before = m.recommend(user, 10, now);
    const y = before[before.length - 1]!;
    expect(y.reason).toMatch(/^because you /);
    m.observe({ userId: user, trackId: seedOf(y.reason), kind: 'like', ts: now });
    const after = m.recommend(user, 10, now + 1);
    const rank = after.findIndex((r) => r.trackId === y.trackId);
    expect(rank).toBeGreaterThanOrEqual(0);
    expect(rank).toBeLessThan(before.length - 1);
    expect(after[rank]!.score).toBeGreaterThan(y.score);
  });
});

describe('state', () => {
  it('snapshot → structured clone (what a snapshot file carries) → restore gives identical recommendations, and identical learning afterwards', () => {
    const data = datasets.get(SEEDS[0]!)!;
    const { m, now, rest } = trained(data, 0.7);
    const copy = new ItemKnnRecommender();
    // item-knn's snapshot is columns (typed arrays): v8.serialize carries it, JSON does not.
    copy.restore(deserialize(serialize(m.snapshot())));
    const users = data.users.map((u) => u.userId);
    for (const u of users) expect(copy.recommend(u, 10, now)).toEqual(m.recommend(u, 10, now));
    for (const i of rest.slice(0, 5000)) {
      m.observe(i);
      copy.observe(i);
    }
    const later = rest[4999]!.ts + 1;
    for (const u of users.slice(0, 100))
      expect(copy.recommend(u, 10, later)).toEqual(m.recommend(u, 10, later));
    const pop = new PopularityRecommender();
    for (const i of data.interactions.slice(0, 20_000)) pop.observe(i);
    const pop2 = new PopularityRecommender();
    pop2.restore(JSON.parse(JSON.stringify(pop.snapshot())));
    for (const u of users.slice(0, 50)) expect(pop2.recommend(u, 10, now)).toEqual(pop.recommend(u, 10, now));
  });

  it('bounds hold under a long stream: tracked items, neighbour lists, histories, users', () => {
    const o = { maxItems: 400, maxNeighbors: 40, historySize: 30, maxUsers: 250 };
    const m = new ItemKnnRecommender(o);
    // Two datasets back to back (the second shifted after the first): ~170k interactions over 1440 tracks and 400 users.
    const a = datasets.get(SEEDS[0]!)!.interactions;
    const shift = a[a.length - 1]!.ts - datasets.get(SEEDS[1]!)!.interactions[0]!.ts + DAY_MS;
    const stream = [...a, ...datasets.get(SEEDS[1]!)!.interactions.map((i) => ({ ...i, ts: i.ts + shift }))];
    let checks = 0;
    for (const [k, i] of stream.entries()) {
      m.observe(i);
      if (k % 20_000 === 0 || k === stream.length - 1) {
        const s = m.stats();
        expect(s.items).toBeLessThanOrEqual(o.maxItems);
        expect(s.popularityItems).toBeLessThanOrEqual(o.maxItems);
        expect(s.maxNeighbors).toBeLessThanOrEqual(o.maxNeighbors);
        expect(s.maxHistory).toBeLessThanOrEqual(o.historySize);
        expect(s.maxProfile).toBeLessThanOrEqual(m.options.profileSize);
        expect(s.users).toBeLessThanOrEqual(o.maxUsers);
        expect(s.edges).toBeLessThanOrEqual(o.maxItems * o.maxNeighbors);
        expect(s.longEdges).toBeLessThanOrEqual(o.maxItems * o.maxNeighbors);
        checks++;
      }
    }
    expect(checks).toBeGreaterThan(5);
    expect(m.stats().items).toBe(o.maxItems); // the cap was reached, so eviction ran
    // Still answers sensibly: full lists, nothing the user just heard.
    const now = stream[stream.length - 1]!.ts + 1;
    const recent = new Map<string, Set<string>>();
    for (const i of stream.slice(-20_000)) {
      if (!recent.has(i.userId)) recent.set(i.userId, new Set());
      recent.get(i.userId)!.add(i.trackId);
    }
    const snapUsers = (m.snapshot() as { users: { ids: PackedStrings } }).users;
    const rings = new Map(
      unpackStrings(snapUsers.ids, 'ids').map((u) => [u, new Set(m.userState(u).map((e) => e.trackId))]),
    );
    expect(rings.size).toBe(o.maxUsers);
    for (const u of [...recent.keys()].filter((x) => rings.has(x)).slice(0, 50)) {
      const heard = rings.get(u)!;
      expect(heard.size).toBeGreaterThan(0);
      const recs = m.recommend(u, 10, now);
      expect(recs).toHaveLength(10);
      for (const r of recs) expect(heard.has(r.trackId)).toBe(false);
    }
  });
});

describe('real listening data: Last.fm 2K (development half), 20 % of each user’s artists held out', () => {
  const rows = loadUserArtists();
  it.each([1, 2])(
    'split seed %i: item-knn beats popularity and its session-only self, near cosine item-kNN',
    (seed) => {
      const split = splitListening(rows, { seed, users: 400 });
      expect(split.cases).toHaveLength(400);
      expect(split.interactions.length).toBeGreaterThan(100_000);
      const r = evaluateHoldout(split, [
        () => new ItemKnnRecommender(),
        () => new PopularityRecommender(),
        () => new CosineKnnRecommender(),
        () => new ItemKnnRecommender({ longWeight: 0 }),
      ]);
      const [knn, pop, cos, sessionOnly] = r.models.map((m) => m.precision) as [
        number,
        number,
        number,
        number,
      ];
      expect(knn).toBeGreaterThanOrEqual(1.7 * pop);
      expect(knn).toBeGreaterThanOrEqual(1.4 * sessionOnly); // the long-term part is what carries real taste
      expect(knn).toBeGreaterThanOrEqual(0.8 * cos); // a regression guard: it does not beat cosine (README)
      expect(r.models[0]!.hitRate).toBeGreaterThan(r.models[1]!.hitRate + 0.2);
    },
  );

  it('the split is deterministic, holds out ≥ 1 artist per user, and never streams a held-out artist', () => {
    const a = splitListening(rows, { seed: 3, users: 50 });
    const b = splitListening(rows, { seed: 3, users: 50 });
    expect(b).toEqual(a);
    const held = new Map(a.cases.map((c) => [c.userId, new Set(c.heldOut)]));
    for (const c of a.cases) {
      expect(c.heldOut.length).toBeGreaterThanOrEqual(1);
      expect(c.heldOut.length).toBe(Math.max(1, Math.round(0.2 * (c.heldOut.length + c.train.length))));
    }
    for (let k = 0; k < a.interactions.length; k++) {
      const i = a.interactions[k]!;
      expect(held.get(i.userId)!.has(i.trackId)).toBe(false);
      if (k > 0) expect(i.ts).toBeGreaterThanOrEqual(a.interactions[k - 1]!.ts);
    }
  });
});
