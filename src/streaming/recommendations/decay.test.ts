import { describe, expect, it } from 'vitest';
import { DAY_MS, decayFactor, EMPTY, logAdd, toLog, valueAt } from './decay.ts';

const H = DAY_MS;
const T0 = Date.UTC(2026, 0, 5);

describe('log-space exponential decay', () => {
  it('a weight halves every half-life', () => {
    const s = toLog(8, T0, H);
    expect(valueAt(s, T0, H)).toBeCloseTo(8, 9);
    expect(valueAt(s, T0 + H, H)).toBeCloseTo(4, 9);
    expect(valueAt(s, T0 + 3 * H, H)).toBeCloseTo(1, 9);
    expect(decayFactor(H, H)).toBe(0.5);
    expect(decayFactor(2 * H, H)).toBe(0.25);
    expect(decayFactor(0, H)).toBe(1);
    expect(decayFactor(-5, H)).toBe(1);
  });

  it('sums decayed weights: w1 at t1 plus w2 at t2, read at t3', () => {
    let s = EMPTY;
    s = logAdd(s, toLog(2, T0, H));
    s = logAdd(s, toLog(3, T0 + H, H));
    // At T0 + 2H: 2·¼ + 3·½ = 2
    expect(valueAt(s, T0 + 2 * H, H)).toBeCloseTo(2, 9);
  });

  it('logAdd: EMPTY is the identity; commutative; exact for equal terms; stable for far-apart terms', () => {
    expect(logAdd(EMPTY, 5)).toBe(5);
    expect(logAdd(5, EMPTY)).toBe(5);
    expect(logAdd(EMPTY, EMPTY)).toBe(EMPTY);
    expect(logAdd(3, 7)).toBe(logAdd(7, 3));
    expect(logAdd(10, 10)).toBe(11);
    expect(logAdd(2000, 0)).toBe(2000); // 2^2000 + 1: no overflow, no NaN
    expect(Number.isFinite(logAdd(30_000, 29_999))).toBe(true);
  });

  it('order between stored values does not change with time (no aging sweep needed)', () => {
    const a = toLog(5, T0, H); // 5 plays long ago
    const b = toLog(2, T0 + 2 * H, H); // 2 plays two half-lives later: 5/4 = 1.25 < 2
    expect(b > a).toBe(true);
    for (const now of [T0 + 2 * H, T0 + 10 * H, T0 + 100 * H])
      expect(valueAt(b, now, H) > valueAt(a, now, H)).toBe(true);
  });

  it('stays finite at real epochs even with a tiny half-life (t / halfLife ≈ 3e7)', () => {
    const h = 60_000;
    const s = logAdd(toLog(1, T0, h), toLog(1, T0 + h, h));
    expect(Number.isFinite(s)).toBe(true);
    expect(valueAt(s, T0 + h, h)).toBeCloseTo(1.5, 6);
  });
});
