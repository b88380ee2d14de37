import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  analyze,
  assignVariant,
  bucketOf,
  InvalidExperimentError,
  normalCdf,
  twoProportionZTest,
  validateExperiment,
} from './index.ts';

describe('assignVariant', () => {
  const variants = [
    { name: 'a', weight: 1, template: 'ta' },
    { name: 'b', weight: 2, template: 'tb' },
    { name: 'c', weight: 7, template: 'tc' },
  ];

  it('is deterministic: the same user always gets the same variant', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (exp, user) => {
        const first = assignVariant(exp, user, variants);
        expect(assignVariant(exp, user, variants)).toBe(first);
        expect(
          assignVariant(
            exp,
            user,
            variants.map((v) => ({ ...v })),
          ),
        ).toEqual(first);
        const u = bucketOf(exp, user);
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
      }),
      { seed: 5, numRuns: 500 },
    );
  });

  it('splits 100k users in proportion to the weights (chi-square, 2 df, < 13.8 = p 0.001)', () => {
    const counts = new Map<string, number>();
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const v = assignVariant('weights-check', `user-${i}`, variants);
      counts.set(v.name, (counts.get(v.name) ?? 0) + 1);
    }
    let chi2 = 0;
    for (const v of variants) {
      const expected = (N * v.weight) / 10;
      chi2 += ((counts.get(v.name) ?? 0) - expected) ** 2 / expected;
      expect(Math.abs((counts.get(v.name) ?? 0) / N - v.weight / 10)).toBeLessThan(0.005);
    }
    expect(chi2).toBeLessThan(13.8);
  });

  it('assignments in two experiments are independent (2×2 chi-square < 10.8 = p 0.001)', () => {
    const ab = [
      { name: 'x', weight: 1 },
      { name: 'y', weight: 1 },
    ];
    const table = [0, 0, 0, 0];
    const N = 40_000;
    for (let i = 0; i < N; i++) {
      const a = assignVariant('exp-1', `u${i}`, ab).name === 'x' ? 0 : 1;
      const b = assignVariant('exp-2', `u${i}`, ab).name === 'x' ? 0 : 1;
      table[a * 2 + b]! += 1;
    }
    const chi2 = table.reduce((s, o) => s + (o - N / 4) ** 2 / (N / 4), 0);
    expect(chi2).toBeLessThan(10.8);
  });

  it('refuses weights that cannot split', () => {
    expect(() => assignVariant('e', 'u', [])).toThrow(RangeError);
    expect(() => assignVariant('e', 'u', [{ name: 'a', weight: 0 }])).toThrow(/positive weight/);
    expect(() => assignVariant('e', 'u', [{ name: 'a', weight: Number.NaN }])).toThrow(/positive weight/);
  });
});

describe('validateExperiment', () => {
  it('accepts a good definition, keeping only the known fields', () => {
    const def = validateExperiment({
      name: 'subject-line',
      variants: [
        { name: 'a', weight: 1, template: 'release-a', extra: true },
        { name: 'b', weight: 0.5, template: 'release-b' },
      ],
    });
    expect(def).toEqual({
      name: 'subject-line',
      variants: [
        { name: 'a', weight: 1, template: 'release-a' },
        { name: 'b', weight: 0.5, template: 'release-b' },
      ],
    });
  });

  it.each([
    [{ name: 'e', variants: [{ name: 'a', weight: 1, template: 't' }] }, /at least 2 variants/],
    [{ name: '', variants: [] }, /name must be/],
    [{ name: 'e', variants: 'x' }, /variants must be an array/],
    [
      {
        name: 'e',
        variants: [
          { name: 'a', weight: 1, template: 't' },
          { name: 'a', weight: 1, template: 't' },
        ],
      },
      /"a" is used twice/,
    ],
    [
      {
        name: 'e',
        variants: [
          { name: 'a', weight: 0, template: 't' },
          { name: 'b', weight: -1, template: 't' },
        ],
      },
      /variants\[0\]\.weight.*variants\[1\]\.weight/,
    ],
    [
      {
        name: 'e',
        variants: [
          { name: 'a', weight: 1 },
          { name: 'b', weight: 1, template: '' },
        ],
      },
      /variants\[0\]\.template.*variants\[1\]\.template/,
    ],
    [
      {
        name: 'e',
        variants: Array.from({ length: 21 }, (_, i) => ({ name: `v${i}`, weight: 1, template: 't' })),
      },
      /at most 20/,
    ],
    [null, /must be an object/],
  ])('refuses %j', (input, why) => {
    let err: unknown;
    try {
      validateExperiment(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidExperimentError);
    expect((err as InvalidExperimentError).httpStatus).toBe(400);
    expect((err as Error).message).toMatch(why);
  });
});

describe('two-proportion z-test', () => {
  it('matches the normal table', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1)).toBeCloseTo(0.8413447, 6);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.5)).toBeCloseTo(0.0062097, 6);
    expect(normalCdf(3.290527)).toBeCloseTo(0.9995, 6);
  });

  it('matches textbook values (R: prop.test(..., correct = FALSE))', () => {
    // prop.test(c(60, 40), c(100, 100), correct = FALSE): X-squared = 8, p-value = 0.004678
    const t = twoProportionZTest(60, 100, 40, 100)!;
    expect(t.z).toBeCloseTo(Math.sqrt(8), 6);
    expect(t.pValue).toBeCloseTo(0.004677735, 6);
    // prop.test(c(120, 100), c(1000, 1000), correct = FALSE): X-squared = 2.0429, p-value = 0.1529
    const u = twoProportionZTest(120, 1000, 100, 1000)!;
    expect(u.z ** 2).toBeCloseTo(2.0429, 3);
    expect(u.pValue).toBeCloseTo(0.1529, 4);
    // Symmetric, and nothing to test without variance or samples.
    expect(twoProportionZTest(40, 100, 60, 100)!.z).toBeCloseTo(-t.z, 12);
    expect(twoProportionZTest(0, 100, 0, 100)).toBeUndefined();
    expect(twoProportionZTest(5, 0, 5, 10)).toBeUndefined();
  });
});

describe('analyze', () => {
  const v = (name: string, sent: number, opened: number, weight = 1) => ({
    name,
    weight,
    recipients: sent,
    sent,
    opened,
  });

  it('names the better variant when the difference is significant', () => {
    const r = analyze([v('a', 1000, 100), v('b', 1000, 150)]);
    expect(r.winner).toBe('b');
    expect(r.reason).toBe('significant');
    expect(r.variants.map((x) => x.openRate)).toEqual([0.1, 0.15]);
    expect(r.pValue).toBeCloseTo(twoProportionZTest(150, 1000, 100, 1000)!.pValue, 12);
    expect(r.pValue!).toBeLessThan(0.05);
  });

  it('no winner when the difference is not significant', () => {
    const r = analyze([v('a', 1000, 120), v('b', 1000, 100)]);
    expect(r).toMatchObject({ winner: null, reason: 'not-significant', best: 'a' });
    expect(r.pValue).toBeCloseTo(0.1529, 4);
  });

  it('Bonferroni over k − 1: a p-value significant alone is not with three variants', () => {
    // b vs a alone: p ≈ 0.032; with a third variant the corrected p doubles to ≈ 0.064.
    const two = analyze([v('a', 1000, 100), v('b', 1000, 128)]);
    expect(two.winner).toBe('b');
    const three = analyze([v('a', 1000, 100), v('b', 1000, 128), v('c', 1000, 101)]);
    expect(three.winner).toBeNull();
    expect(three.comparisons.map((c) => c.against)).toEqual(['a', 'c']);
    expect(three.pValue).toBeCloseTo(Math.max(...three.comparisons.map((c) => 2 * c.pValue)), 12);
    expect(three.comparisons[0]!.adjustedPValue).toBeCloseTo(2 * three.comparisons[0]!.pValue, 12);
  });

  it('the best must beat every other variant, not just the worst', () => {
    const r = analyze([v('a', 2000, 200), v('b', 2000, 300), v('c', 2000, 290)]);
    expect(r.best).toBe('b');
    expect(r.winner).toBeNull();
  });

  it('no winner without enough data, however large the difference', () => {
    expect(analyze([v('a', 50, 0), v('b', 50, 25)]).reason).toBe('insufficient-data'); // < 100 sends
    // p ≈ 0.034 but only 4 expected opens per group: the normal approximation does not hold.
    const rare = analyze([v('a', 5000, 1), v('b', 5000, 7)]);
    expect(rare.comparisons[0]!.pValue).toBeLessThan(0.05);
    expect(rare).toMatchObject({ winner: null, reason: 'insufficient-data' });
    expect(analyze([v('a', 1000, 10), v('b', 0, 0)])).toMatchObject({ winner: null, pValue: null });
    expect(analyze([v('a', 1000, 10)])).toMatchObject({ winner: null, pValue: null });
    expect(analyze([v('a', 500, 0), v('b', 500, 0)])).toMatchObject({ winner: null, pValue: null });
  });

  it('a tie at the top is no winner; opens beyond sends are capped', () => {
    expect(analyze([v('a', 1000, 300), v('b', 1000, 300), v('c', 1000, 100)]).winner).toBeNull();
    const r = analyze([v('a', 200, 250), v('b', 200, 20)]);
    expect(r.variants[0]!.openRate).toBe(1);
  });
});
