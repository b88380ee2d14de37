import { describe, expect, it } from 'vitest';
import { boundedCache } from './index.ts';

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
