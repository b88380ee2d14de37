import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { exceedsJsonDepth } from './bounds.ts';

const nest = (n: number, leaf: unknown = 1): unknown => {
  let v = leaf;
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

/** Reference depth, recursive (fine for the small values fast-check makes). */
function depth(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  const kids = Array.isArray(v) ? v : Object.values(v);
  return 1 + kids.reduce<number>((m, c) => Math.max(m, depth(c)), 0);
}

describe('exceedsJsonDepth', () => {
  it('counts containers, not scalars', () => {
    expect(exceedsJsonDepth(1, 0)).toBe(false);
    expect(exceedsJsonDepth('x', 0)).toBe(false);
    expect(exceedsJsonDepth({}, 1)).toBe(false);
    expect(exceedsJsonDepth({}, 0)).toBe(true);
    expect(exceedsJsonDepth({ a: [1] }, 2)).toBe(false);
    expect(exceedsJsonDepth({ a: [1] }, 1)).toBe(true);
    expect(exceedsJsonDepth({ a: [[]] }, 2)).toBe(true);
  });

  it('handles values far deeper than the stack allows recursion for', () => {
    const text = '{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000);
    const v: unknown = JSON.parse(text);
    expect(exceedsJsonDepth(v, 32)).toBe(true);
    expect(exceedsJsonDepth(nest(32), 32)).toBe(false);
    expect(exceedsJsonDepth(nest(33), 32)).toBe(true);
  });

  it('sees a deep value hidden under an own "__proto__" key', () => {
    const v: unknown = JSON.parse('{"__proto__":' + '['.repeat(100) + ']'.repeat(100) + '}');
    expect(exceedsJsonDepth(v, 32)).toBe(true);
  });

  it('agrees with a reference depth on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (v, max) => {
        expect(exceedsJsonDepth(v, max)).toBe(depth(v) > max);
      }),
      { numRuns: 500 },
    );
  });
});
