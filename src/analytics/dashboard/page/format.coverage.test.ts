import { describe, expect, it } from 'vitest';
import { fmtAgo, fmtInt, fmtMs, fmtNum, fmtRate, fmtTime } from './format.ts';

describe('dashboard number formatting', () => {
  it('shows a dash for unknown values', () => {
    for (const f of [fmtInt, fmtNum, fmtMs, fmtRate]) {
      expect(f(undefined)).toBe('–');
      expect(f(null)).toBe('–');
    }
    expect(fmtTime(undefined)).toBe('–');
    expect(fmtAgo(undefined, 0)).toBe('');
  });

  it('keeps few significant digits by magnitude', () => {
    expect(fmtInt(1234567.4)).toBe('1,234,567');
    expect(fmtNum(4567.89)).toBe('4,568');
    expect(fmtNum(-150.5)).toBe('-151');
    expect(fmtNum(42)).toBe('42');
    expect(fmtNum(45.66)).toBe('45.7');
    expect(fmtNum(4.567)).toBe('4.57');
    expect(fmtNum(0.01234)).toBe('0.012');
    expect(fmtNum(-0.5)).toBe('-0.50');
    expect(fmtMs(12.34)).toBe('12.3 ms');
    expect(fmtRate(0.1234)).toBe('12.3 %');
    expect(fmtRate(1)).toBe('100 %');
  });

  it('formats a local wall-clock time with two digits per field', () => {
    const d = new Date(2026, 0, 2, 3, 4, 5);
    expect(fmtTime(d.getTime())).toBe('03:04:05');
  });

  it('says how long ago, in the largest whole unit, never negative', () => {
    const now = 1_000_000_000;
    expect(fmtAgo(now + 5_000, now)).toBe('0 s ago');
    expect(fmtAgo(now - 59_400, now)).toBe('59 s ago');
    expect(fmtAgo(now - 60_000, now)).toBe('1 min ago');
    expect(fmtAgo(now - 3_599_000, now)).toBe('59 min ago');
    expect(fmtAgo(now - 7_200_000, now)).toBe('2 h ago');
    expect(fmtAgo(now - 86_400_000 * 3, now)).toBe('3 d ago');
  });
});
