import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { boundedCache, FifoSet } from './index.ts';

describe('boundedCache', () => {
  it('holds at most its bound, evicting the least recently used', () => {
    const c = boundedCache<string, number>(3);
    c.set('a', 1).set('b', 2).set('c', 3);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('d', 4);
    expect([...c.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(c.size).toBe(3);
    for (let i = 0; i < 10_000; i++) c.set(`k${i}`, i);
    expect(c.size).toBe(3);
    expect(c.get('k9999')).toBe(9999);
    expect(c.has('a')).toBe(false);
  });

  it('a bound below 1 or fractional is clamped to a whole number ≥ 1', () => {
    const c = boundedCache<string, number>(0);
    c.set('x', 1).set('y', 2);
    expect(c.size).toBe(1);
    expect(c.get('y')).toBe(2);
    const f = boundedCache<string, number>(2.9);
    f.set('a', 1).set('b', 2).set('c', 3);
    expect(f.size).toBe(2);
  });

  it('keeps the options it is given (dispose on eviction)', () => {
    const gone: string[] = [];
    const c = boundedCache<string, number>(2, { dispose: (_v, k, reason) => gone.push(`${k}:${reason}`) });
    c.set('a', 1).set('b', 2).set('c', 3);
    expect(gone).toEqual(['a:evict']);
  });
});

describe('FifoSet', () => {
  it('forgets the oldest member first, and a lookup does not reorder', () => {
    const s = new FifoSet<string>(3);
    s.add('a');
    s.add('b');
    s.add('c');
    expect(s.has('a')).toBe(true); // no reordering: a is still the oldest
    s.add('d');
    expect(s.has('a')).toBe(false);
    expect(s.values()).toEqual(['b', 'c', 'd']);
    s.add('c'); // already in: stays where it is
    s.add('e');
    expect(s.values()).toEqual(['c', 'd', 'e']);
    expect(s.size).toBe(3);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.values()).toEqual([]);
  });

  it('matches a reference model on any sequence of adds (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 0, max: 20 })), (max, xs) => {
        const s = new FifoSet<number>(max);
        const model: number[] = [];
        for (const x of xs) {
          s.add(x);
          if (!model.includes(x)) {
            model.push(x);
            if (model.length > max) model.shift();
          }
          expect(s.size).toBe(model.length);
        }
        expect(s.values()).toEqual(model);
        for (let x = 0; x <= 20; x++) expect(s.has(x)).toBe(model.includes(x));
      }),
    );
  });
});
