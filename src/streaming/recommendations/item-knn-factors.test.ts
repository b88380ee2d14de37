import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random/index.ts';
import { DAY_MS, HOUR_MS } from './decay.ts';
import { ItemKnnRecommender, type ItemKnnOptions } from './item-knn.ts';
import type { Interaction } from './types.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const FAST: ItemKnnOptions = { factors: 8, factorReg: 1, factorIterations: 8 };

/**
 * Planted tastes: 4 clusters of 15 tracks; each of 80 users plays 6 tracks of their cluster,
 * one play a day (so the session part links few of them), over 6 days.
 */
function stream(seed = 5): { events: Interaction[]; end: number } {
  const rnd = mulberry32(seed);
  const events: Interaction[] = [];
  for (let u = 0; u < 80; u++) {
    const g = u % 4;
    const pool = Array.from({ length: 15 }, (_, k) => `g${g}-t${k}`);
    for (let k = pool.length - 1; k > 0; k--) {
      const j = Math.floor(rnd() * (k + 1));
      [pool[k], pool[j]] = [pool[j] as string, pool[k] as string];
    }
    pool.slice(0, 6).forEach((trackId, d) => {
      events.push({
        userId: `u${u}`,
        trackId,
        kind: 'play',
        ts: T0 + d * DAY_MS + u * 60_000,
        completion: 1,
      });
    });
  }
  events.sort((a, b) => a.ts - b.ts);
  return { events, end: T0 + 7 * DAY_MS };
}

function feed(m: ItemKnnRecommender, events: Interaction[]): ItemKnnRecommender {
  for (const e of events) m.observe(e);
  return m;
}

describe('ItemKnnRecommender: latent factors', () => {
  it('answers exactly as without factors until they are trained', () => {
    const { events, end } = stream();
    const a = feed(new ItemKnnRecommender(FAST), events);
    const b = feed(new ItemKnnRecommender({ ...FAST, factorWeight: 0 }), events);
    expect(a.factorStats()).toBeUndefined();
    for (const u of ['u0', 'u1', 'u33', 'nobody'])
      expect(a.recommend(u, 10, end)).toEqual(b.recommend(u, 10, end));
  });

  it('after retrainFactors recommends the user’s cluster, with a reason naming a profile track', () => {
    const { events, end } = stream();
    const m = feed(new ItemKnnRecommender(FAST), events);
    const f = m.retrainFactors();
    expect(f.users).toBe(80);
    expect(f.model.items).toBe(60);
    expect(m.factorStats()).toMatchObject({ users: 80, items: 60, nnz: 480, factors: 8 });
    let inCluster = 0;
    for (let u = 0; u < 80; u++) {
      const recs = m.recommend(`u${u}`, 5, end);
      expect(recs).toHaveLength(5);
      const own = new Set(m.userState(`u${u}`).map((e) => e.trackId));
      for (const r of recs) {
        expect(own.has(r.trackId)).toBe(false);
        if (r.trackId.startsWith(`g${u % 4}-`)) inCluster++;
        const seed = /^because you played (\S+)$/.exec(r.reason)?.[1];
        expect(seed && own.has(seed)).toBe(true);
      }
    }
    expect(inCluster / 400).toBeGreaterThan(0.95);
  });

  it('falls back to the kNN answer for a user with no modelled profile track, and for a cold user', () => {
    const { events, end } = stream();
    const extra: Interaction[] = [
      { userId: 'late', trackId: 'new-1', kind: 'play', ts: end - HOUR_MS, completion: 1 },
      { userId: 'late', trackId: 'new-2', kind: 'play', ts: end - HOUR_MS + 60_000, completion: 1 },
      { userId: 'late2', trackId: 'new-1', kind: 'play', ts: end - HOUR_MS + 120_000, completion: 1 },
    ];
    const a = feed(new ItemKnnRecommender(FAST), events);
    const b = feed(new ItemKnnRecommender({ ...FAST, factorWeight: 0 }), events);
    a.retrainFactors();
    feed(a, extra);
    feed(b, extra);
    for (const u of ['late2', 'nobody']) expect(a.recommend(u, 10, end)).toEqual(b.recommend(u, 10, end));
  });

  it('retrainFactorsSteps trains in steps to the same factors; factorRetrainEvery retrains inside observe', () => {
    const { events, end } = stream();
    const a = feed(new ItemKnnRecommender(FAST), events);
    const b = feed(new ItemKnnRecommender(FAST), events);
    a.retrainFactors();
    const steps = b.retrainFactorsSteps();
    let n = 0;
    while (!steps.next().done) n++;
    expect(n).toBeGreaterThan(10);
    expect(b.recommend('u3', 10, end)).toEqual(a.recommend('u3', 10, end));
    const c = new ItemKnnRecommender({ ...FAST, factorRetrainEvery: events.length });
    feed(c, events.slice(0, -1));
    expect(c.factorStats()).toBeUndefined();
    feed(c, events.slice(-1));
    expect(c.factorStats()?.users).toBe(80);
    expect(c.recommend('u3', 10, end)).toEqual(a.recommend('u3', 10, end));
  });

  it('snapshot / restore stay valid: factors are not snapshotted and are rebuilt by retraining', () => {
    const { events, end } = stream();
    const a = feed(new ItemKnnRecommender(FAST), events);
    const plain = a.snapshot();
    a.retrainFactors();
    const withFactors = a.recommend('u7', 10, end);
    const b = new ItemKnnRecommender(FAST);
    b.restore(a.snapshot());
    expect(a.snapshot()).toEqual(plain);
    expect(b.factorStats()).toBeUndefined();
    a.clearFactors();
    expect(b.recommend('u7', 10, end)).toEqual(a.recommend('u7', 10, end));
    b.retrainFactors();
    expect(b.recommend('u7', 10, end)).toEqual(withFactors);
  });

  it('refuses out-of-range factor options', () => {
    for (const bad of [
      { factorWeight: 1.5 },
      { factorWeight: -0.1 },
      { factors: 0 },
      { factorItems: 0 },
      { factorReg: 0 },
      { factorAlpha: -1 },
      { factorIterations: -1 },
      { factorRetrainEvery: 0.5 },
      { factorSeed: Number.NaN },
    ] as ItemKnnOptions[]) {
      expect(() => new ItemKnnRecommender(bad)).toThrow(RangeError);
    }
  });
  it('a user the factors predict nothing for gets the answer without them (small F is not scaled up)', () => {
    // Two tastes of 10 listeners; s1 has heard every track of theirs, so only the other
    // taste is left: the factors predict ~0 for it, and the answer stays the popularity fill.
    const m = new ItemKnnRecommender();
    for (let u = 0; u < 20; u++)
      for (let t = 0; t < 5; t++)
        m.observe({
          userId: `s${u}`,
          trackId: `${u < 10 ? 'a' : 'b'}${(u + t) % 5}`,
          artistId: 'x',
          kind: 'play',
          completion: 1,
          ts: T0 + u * 1000 + t,
        });
    const before = m.recommend('s1', 3, T0 + DAY_MS);
    expect(before.every((r) => r.reason.startsWith('popular now'))).toBe(true);
    m.retrainFactors();
    expect(m.recommend('s1', 3, T0 + DAY_MS)).toEqual(before);
  });
});
