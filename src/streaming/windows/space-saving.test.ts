import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulberry32, SpaceSaving, zipf, type TopKEntry } from './index.ts';

function exactCounts<T>(items: T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

function exactTop<T>(counts: Map<T, number>, k: number): T[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([x]) => x);
}

function zipfStream(n: number, items: number, s: number, seed: number): string[] {
  const random = mulberry32(seed);
  const next = zipf(items, s, random);
  return Array.from({ length: n }, () => `track-${next()}`);
}

/** The Space-Saving guarantees against the exact counts. */
function checkBounds<T extends string | number>(ss: SpaceSaving<T>, exact: Map<T, number>): void {
  const n = ss.total;
  const entries = ss.entries();
  const monitored = new Set(entries.map((e) => e.item));
  for (const e of entries) {
    const truth = exact.get(e.item) ?? 0;
    expect(e.count - e.error).toBeLessThanOrEqual(truth);
    expect(truth).toBeLessThanOrEqual(e.count);
    expect(e.error).toBeLessThanOrEqual(n / ss.capacity);
  }
  for (const [item, c] of exact) if (c > n / ss.capacity) expect(monitored.has(item)).toBe(true);
  expect(ss.minCount).toBeLessThanOrEqual(n / ss.capacity);
  expect(ss.size).toBeLessThanOrEqual(ss.capacity);
}

describe('SpaceSaving', () => {
  it('validates its capacity', () => {
    expect(() => new SpaceSaving(0)).toThrow(RangeError);
    expect(() => new SpaceSaving(2.5)).toThrow(RangeError);
  });

  it('counts exactly while there are no more distinct items than counters', () => {
    const ss = new SpaceSaving<string>(5);
    for (const x of 'abracadabra') ss.add(x);
    expect(ss.entries()).toEqual([
      { item: 'a', count: 5, error: 0 },
      { item: 'b', count: 2, error: 0 },
      { item: 'r', count: 2, error: 0 },
      { item: 'c', count: 1, error: 0 },
      { item: 'd', count: 1, error: 0 },
    ]);
    expect(ss.minCount).toBe(1);
    expect(ss.total).toBe(11);
    expect(ss.top(2).map((e) => e.item)).toEqual(['a', 'b']);
  });

  it('replaces a minimum counter, inheriting its count as the error', () => {
    const ss = new SpaceSaving<string>(2);
    for (const x of ['a', 'a', 'b', 'c']) ss.add(x);
    // 'c' took over b's counter (count 1): count 2, error 1.
    expect(ss.entries()).toEqual([
      { item: 'a', count: 2, error: 0 },
      { item: 'c', count: 2, error: 1 },
    ]);
    expect(ss.estimate('b')).toEqual({ item: 'b', count: 2, error: 2 });
    expect(ss.estimate('a')).toEqual({ item: 'a', count: 2, error: 0 });
  });

  it('supports numeric items and weights', () => {
    const ss = new SpaceSaving<number>(3);
    ss.add(7, 5);
    ss.add(8, 2);
    ss.add(7);
    ss.add(9, 10);
    ss.add(10); // replaces the minimum (8, count 2)
    expect(ss.top(3)).toEqual([
      { item: 9, count: 10, error: 0 },
      { item: 7, count: 6, error: 0 },
      { item: 10, count: 3, error: 2 },
    ]);
    expect(ss.total).toBe(19);
  });

  it.each([
    [1.0, 100],
    [1.1, 100],
    [1.3, 40],
  ])(
    'finds the top 10 of Zipf(s=%f) data over 50k items with %i counters, within its bounds',
    (s, capacity) => {
      const stream = zipfStream(200_000, 50_000, s, Math.round(s * 100));
      const ss = new SpaceSaving<string>(capacity);
      for (const x of stream) ss.add(x);
      const exact = exactCounts(stream);
      checkBounds(ss, exact);
      const truth = exactTop(exact, 10);
      const found = ss.top(10).map((e) => e.item);
      expect(new Set(found)).toEqual(new Set(truth));
      // Heavy hitters are counted almost exactly: they entered early, with a tiny error.
      for (const e of ss.top(3)) expect(e.error / e.count).toBeLessThan(0.01);
    },
  );

  it('keeps its guarantees on adversarial orders (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 600 }),
        fc.integer({ min: 1, max: 12 }),
        (xs, capacity) => {
          const ss = new SpaceSaving<number>(capacity);
          for (const x of xs) ss.add(x);
          checkBounds(ss, exactCounts(xs));
          expect(ss.total).toBe(xs.length);
          // The counts always sum to N (each unit of weight lands on exactly one counter).
          expect(ss.entries().reduce((a, e) => a + e.count, 0)).toBe(xs.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merges two summaries within the summed bounds, and finds the top 10 of the union', () => {
    const a = zipfStream(100_000, 50_000, 1.1, 1);
    const b = zipfStream(100_000, 50_000, 1.1, 2);
    const sa = new SpaceSaving<string>(100);
    const sb = new SpaceSaving<string>(100);
    for (const x of a) sa.add(x);
    for (const x of b) sb.add(x);
    sa.merge(sb);
    const exact = exactCounts([...a, ...b]);
    expect(sa.total).toBe(200_000);
    checkBounds(sa, exact);
    expect(new Set(sa.top(10).map((e) => e.item))).toEqual(new Set(exactTop(exact, 10)));
  });

  it('merges exactly when both sides are exact', () => {
    const sa = new SpaceSaving<string>(10);
    const sb = new SpaceSaving<string>(10);
    for (const x of 'aabbc') sa.add(x);
    for (const x of 'bcd') sb.add(x);
    sa.merge(sb);
    expect(sa.entries()).toEqual([
      { item: 'b', count: 3, error: 0 },
      { item: 'a', count: 2, error: 0 },
      { item: 'c', count: 2, error: 0 },
      { item: 'd', count: 1, error: 0 },
    ]);
    sa.add('d');
    sa.add('e');
    expect(sa.estimate('d').count).toBe(2);
    sa.merge(new SpaceSaving<string>(10)); // empty: no-op
    expect(sa.total).toBe(10);
  });

  it('keeps the bounds through merges of many small summaries (property)', () => {
    const part = fc.array(fc.integer({ min: 0, max: 25 }), { maxLength: 80 });
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 8 }),
        (parts, capacity) => {
          const acc = new SpaceSaving<number>(capacity);
          for (const p of parts) {
            const ss = new SpaceSaving<number>(capacity);
            for (const x of p) ss.add(x);
            acc.merge(ss);
          }
          checkBounds(acc, exactCounts(parts.flat()));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips through JSON and keeps working', () => {
    const stream = zipfStream(20_000, 1000, 1.1, 9);
    const ss = new SpaceSaving<string>(50);
    for (const x of stream.slice(0, 10_000)) ss.add(x);
    const back = SpaceSaving.fromJSON<string>(
      JSON.parse(JSON.stringify(ss)) as ReturnType<SpaceSaving<string>['toJSON']>,
    );
    expect(back.entries()).toEqual(ss.entries());
    expect(back.minCount).toBe(ss.minCount);
    for (const x of stream.slice(10_000)) {
      ss.add(x);
      back.add(x);
    }
    const counts = (es: TopKEntry<string>[]) => es.map((e) => e.count);
    expect(counts(back.entries())).toEqual(counts(ss.entries()));
    checkBounds(back, exactCounts(stream));
  });

  it('stays bounded: memory is capacity counters however many distinct items pass', () => {
    const ss = new SpaceSaving<string>(64);
    for (let i = 0; i < 100_000; i++) ss.add(`unique-${i}`);
    expect(ss.size).toBe(64);
    expect(ss.toJSON().entries).toHaveLength(64);
  });
});
