import { describe, expect, it, vi } from 'vitest';
import { generateListening } from './synthetic.ts';
import type { Recommendation } from './types.ts';

/** Runs `during` once, from inside the next query, between its seed selection and its votes. */
const hook = vi.hoisted(() => ({ during: undefined as (() => void) | undefined }));
vi.mock('./decay.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./decay.ts')>();
  return {
    ...orig,
    decayFactor: (dt: number, h: number): number => {
      const f = hook.during;
      hook.during = undefined;
      f?.();
      return orig.decayFactor(dt, h);
    },
  };
});
const { ItemKnnRecommender } = await import('./item-knn.ts');

describe('recommend is reentrant', () => {
  it('a query nested inside another (same user and others) gives both the answers of sequential queries', () => {
    const data = generateListening({ seed: 5, users: 60, days: 7 });
    const m = new ItemKnnRecommender();
    for (const i of data.interactions) m.observe(i);
    const now = data.interactions.at(-1)!.ts + 1;
    const users = [...new Set(data.interactions.map((i) => i.userId))].slice(0, 20); // users with history
    const sequential = new Map(users.map((u) => [u, m.recommend(u, 10, now)]));
    let checked = 0;
    for (const [k, outer] of users.entries()) {
      for (const inner of [outer, users[(k + 1) % users.length]!]) {
        let nested: Recommendation[] | undefined;
        hook.during = () => {
          nested = m.recommend(inner, 10, now);
        };
        const got = m.recommend(outer, 10, now);
        expect(nested, 'the hook ran inside the outer query').toBeDefined();
        expect(got).toEqual(sequential.get(outer));
        expect(nested).toEqual(sequential.get(inner));
        checked++;
      }
    }
    expect(checked).toBe(40);
    expect([...sequential.values()].every((r) => r.length === 10)).toBe(true);
  });
});
