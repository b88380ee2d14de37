import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createStrategy, eligible, type Target } from './index.ts';

const t = (id: string, load = 0, capacity = 100, weight = 1): Target => ({ id, load, capacity, weight });

describe('eligible', () => {
  it('drops full targets and orders by id', () => {
    expect(eligible([t('b'), t('a', 100), t('c', 99)]).map((x) => x.id)).toEqual(['b', 'c']);
  });
});

describe('round-robin', () => {
  it('cycles through targets in order', () => {
    const s = createStrategy('round-robin');
    const ts = [t('a'), t('b'), t('c')];
    expect(Array.from({ length: 7 }, () => s.pick(ts)!.id)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });
  it('returns undefined without candidates', () => {
    expect(createStrategy('round-robin').pick([])).toBeUndefined();
  });
});

describe('least-connections', () => {
  it('picks the lowest load relative to capacity, ties to the lower id', () => {
    const s = createStrategy('least-connections');
    expect(s.pick([t('a', 50, 100), t('b', 60, 200), t('c', 10, 10)])!.id).toBe('b');
    expect(s.pick([t('b', 5), t('a', 5)])!.id).toBe('b'); // input order when already sorted by eligible()
    expect(s.pick(eligible([t('b', 5), t('a', 5)]))!.id).toBe('a');
  });
});

describe('weighted', () => {
  it('picks in proportion to weight × spare capacity, smoothly', () => {
    const s = createStrategy('weighted');
    const ts = [t('a', 0, 100, 3), t('b', 0, 100, 1)];
    const picks = Array.from({ length: 8 }, () => s.pick(ts)!.id);
    expect(picks.filter((p) => p === 'a')).toHaveLength(6);
    expect(picks.filter((p) => p === 'b')).toHaveLength(2);
    // smooth: never three of the heavy one's picks in a row without b within a period of 4
    expect(picks.slice(0, 4).filter((p) => p === 'b')).toHaveLength(1);
  });
  it('gives a loaded node less', () => {
    const s = createStrategy('weighted');
    const ts = [t('a', 90, 100, 1), t('b', 0, 100, 1)];
    const picks = Array.from({ length: 110 }, () => s.pick(ts)!.id);
    expect(picks.filter((p) => p === 'b').length).toBe(100);
  });
});

describe('consistent-hash', () => {
  it('is sticky per key', () => {
    const s = createStrategy('consistent-hash');
    const ts = [t('a'), t('b'), t('c')];
    for (const user of ['u1', 'u2', 'alice', 'bob']) expect(s.pick(ts, user)!.id).toBe(s.pick(ts, user)!.id);
  });
  it('moves only the keys of a removed node', () => {
    const s = createStrategy('consistent-hash');
    const all = [t('a'), t('b'), t('c'), t('d')];
    const without = all.filter((x) => x.id !== 'c');
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), (user) => {
        const before = s.pick(all, user)!.id;
        const after = s.pick(without, user)!.id;
        return before === 'c' || before === after;
      }),
      { numRuns: 300 },
    );
  });
  it('spreads users roughly evenly', () => {
    const s = createStrategy('consistent-hash');
    const ts = [t('a'), t('b'), t('c')];
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = s.pick(ts, `user-${i}`)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const c of counts.values()) expect(c).toBeGreaterThan(700);
  });
});
