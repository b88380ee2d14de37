import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random/index.ts';
import { IALS_DEFAULTS, resolveIalsOptions, trainIals, type IalsRow } from './ials.ts';

/**
 * Planted low-rank preferences: `groups` clusters of `perGroup` items; each user belongs to one
 * cluster and has `perUser` random items of it; `heldOut` more of them are kept back.
 */
function planted(seed: number, users = 240, groups = 6, perGroup = 20, perUser = 8, heldOut = 2) {
  const rnd = mulberry32(seed);
  const rows: IalsRow[] = [];
  const held: string[][] = [];
  for (let u = 0; u < users; u++) {
    const g = u % groups;
    const pool = Array.from({ length: perGroup }, (_, k) => `g${g}-i${k}`);
    for (let k = pool.length - 1; k > 0; k--) {
      const j = Math.floor(rnd() * (k + 1));
      [pool[k], pool[j]] = [pool[j] as string, pool[k] as string];
    }
    rows.push(pool.slice(0, perUser).map((key) => [key, 1 + Math.floor(rnd() * 4)] as const));
    held.push(pool.slice(perUser, perUser + heldOut));
  }
  return { rows, held, items: groups * perGroup };
}

/**
 * Share of users with a held-out item in their top k (training items excluded), and the share
 * of the top k in the user's own cluster.
 */
function quality(
  model: ReturnType<typeof trainIals>,
  rows: IalsRow[],
  held: string[][],
  k: number,
): { hitRate: number; inCluster: number } {
  let hits = 0;
  let inCluster = 0;
  rows.forEach((row, u) => {
    const g = (row[0] as readonly [string, number])[0].split('-')[0] as string;
    const own = new Set(row.map(([key]) => key));
    const x = model.userFactors.subarray(u * model.factors, (u + 1) * model.factors);
    const s = model.scores(x);
    const top = [...s.keys()]
      .filter((i) => !own.has(model.keys[i] as string))
      .sort((a, b) => (s[b] as number) - (s[a] as number) || a - b)
      .slice(0, k);
    if (top.some((i) => (held[u] as string[]).includes(model.keys[i] as string))) hits++;
    inCluster += top.filter((i) => (model.keys[i] as string).startsWith(`${g}-`)).length / k;
  });
  return { hitRate: hits / rows.length, inCluster: inCluster / rows.length };
}

const SMALL = { factors: 8, reg: 1, alpha: 2, iterations: 10 };

describe('implicit ALS', () => {
  it('a warm start from the previous factors matches a cold training with a fraction of the iterations', () => {
    const { rows, held } = planted(11);
    const cold = trainIals(rows, SMALL);
    // New rows for the same tastes (a later retraining), from the cold model's item factors.
    const later = planted(12);
    const warm = trainIals(later.rows, { ...SMALL, iterations: 2 }, cold);
    const fresh = trainIals(later.rows, { ...SMALL, iterations: 2 });
    const coldLater = trainIals(later.rows, SMALL);
    const qWarm = quality(warm, later.rows, later.held, 5);
    const qCold = quality(coldLater, later.rows, later.held, 5);
    expect(qWarm.inCluster).toBeGreaterThanOrEqual(qCold.inCluster - 0.02);
    expect(qWarm.hitRate).toBeGreaterThanOrEqual(qCold.hitRate - 0.05);
    // It did start from the previous factors (a random start gives other factors).
    expect(warm.itemFactors).not.toEqual(fresh.itemFactors);
    expect(quality(cold, rows, held, 5).inCluster).toBeGreaterThan(0.9);
  });

  it('recovers a planted low-rank preference structure far better than chance', () => {
    const { rows, held, items } = planted(7);
    const model = trainIals(rows, SMALL);
    expect(model.items).toBe(items);
    const q = quality(model, rows, held, 5);
    // Chance: 5 picks out of the 112 unseen items, 12 of them in the user's cluster (0.11),
    // 2 of them held out (hit-rate 0.09). The ceiling (the cluster known, nothing more):
    // in-cluster 1, hit-rate 1 − C(10,5)/C(12,5) = 0.68.
    expect(q.inCluster).toBeGreaterThan(0.95);
    expect(q.hitRate).toBeGreaterThan(0.55);
    // Untrained (0 iterations: the seeded random init) is near chance.
    const r = quality(trainIals(rows, { ...SMALL, iterations: 0 }), rows, held, 5);
    expect(r.inCluster).toBeLessThan(0.25);
    expect(r.hitRate).toBeLessThan(0.25);
  });

  it('fold-in from the final item factors gives a training user’s trained vector', () => {
    const { rows } = planted(11);
    const model = trainIals(rows, SMALL);
    for (const u of [0, 17, 101]) {
      const x = model.foldIn(rows[u] as IalsRow) as Float64Array;
      const trained = model.userFactors.subarray(u * model.factors, (u + 1) * model.factors);
      for (let a = 0; a < model.factors; a++) expect(x[a]).toBeCloseTo(trained[a] as number, 10);
    }
    // Keys not modelled and non-positive weights are ignored; nothing modelled: undefined.
    expect(
      model.foldIn([
        ['nope', 3],
        ['g0-i0', 0],
      ]),
    ).toBeUndefined();
    const a = model.foldIn([
      ['g1-i1', 2],
      ['unknown', 5],
    ]) as Float64Array;
    const b = model.foldIn([['g1-i1', 2]]) as Float64Array;
    expect([...a]).toEqual([...b]);
  });

  it('is deterministic: same rows and options, the same factors bit for bit; another seed, others', () => {
    const { rows } = planted(3);
    const a = trainIals(rows, SMALL);
    const b = trainIals(rows, SMALL);
    expect(a.keys).toEqual(b.keys);
    expect([...a.itemFactors]).toEqual([...b.itemFactors]);
    expect([...a.userFactors]).toEqual([...b.userFactors]);
    const c = trainIals(rows, { ...SMALL, seed: 2 });
    expect([...c.itemFactors]).not.toEqual([...a.itemFactors]);
  });

  it('keeps the maxItems items with the most users (ties by key) and solves rows with none as zeros', () => {
    const rows: IalsRow[] = [
      [
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ],
      [
        ['a', 1],
        ['b', 1],
      ],
      [
        ['a', 2],
        ['d', 1],
      ],
      [['d', 1]],
      [['z', 1]],
    ];
    const m = trainIals(rows, { ...SMALL, factors: 2, maxItems: 3 });
    expect(m.keys).toEqual(['a', 'b', 'd']);
    expect([...m.userFactors.subarray(4 * 2, 5 * 2)]).toEqual([0, 0]);
    expect(m.foldIn([['c', 1]])).toBeUndefined();
  });

  it('rejects bad options with RangeError', () => {
    expect(resolveIalsOptions()).toEqual(IALS_DEFAULTS);
    for (const bad of [
      { factors: 0 },
      { factors: 2.5 },
      { factors: 5000 },
      { reg: 0 },
      { reg: Number.NaN },
      { alpha: -1 },
      { alpha: Infinity },
      { iterations: -1 },
      { iterations: 1.5 },
      { maxItems: 0 },
      { seed: Number.NaN },
      { stepRows: 0 },
    ]) {
      expect(() => trainIals([], bad)).toThrow(RangeError);
    }
  });
});
