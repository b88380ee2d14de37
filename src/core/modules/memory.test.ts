import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { releaseStartupMemory } from './memory.ts';

const youngGeneration = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

describe('releaseStartupMemory', () => {
  it('shrinks the young generation after an allocation burst, leaving no global gc behind', () => {
    const hadGc = 'gc' in globalThis;
    let keep: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) {
      keep.push({ i, s: `x${i}` });
      if (keep.length > 100_000) keep = [];
    }
    keep = [];
    const before = youngGeneration();
    const ms = releaseStartupMemory();
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(youngGeneration()).toBeLessThanOrEqual(before);
    expect(youngGeneration()).toBeLessThanOrEqual(2 * 2 ** 20);
    expect('gc' in globalThis).toBe(hadGc);
  });
});
