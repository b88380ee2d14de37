import { describe, expect, it } from 'vitest';
import { backoffMs } from './backoff.ts';

describe('backoffMs', () => {
  it('doubles from the base up to the cap, drawn below it (full jitter)', () => {
    const top = (attempt: number) => backoffMs(attempt, 50, 2000, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => Math.round(top(a)))).toEqual([
      50, 100, 200, 400, 800, 1600, 2000,
    ]);
    expect(backoffMs(3, 50, 2000, () => 0)).toBe(0);
    for (let i = 0; i < 100; i++) expect(backoffMs(4, 50, 2000)).toBeLessThan(400);
  });
});
