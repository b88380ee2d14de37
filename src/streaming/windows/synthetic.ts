/**
 * Seeded synthetic data for tests and benchmarks: a 32-bit PRNG and a Zipf sampler.
 * Deterministic (no Math.random), so a failing case reproduces.
 */

import { mulberry32 } from '../../core/random/index.ts';

export { mulberry32 };

/**
 * A sampler of ranks 0..n−1 with P(rank r) ∝ 1/(r + 1)^s (rank 0 most frequent), by
 * binary search over the precomputed CDF: O(log n) per sample, no allocation.
 */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let r = 0; r < n; r++) cdf[r] = acc += 1 / (r + 1) ** s;
  for (let r = 0; r < n; r++) cdf[r]! /= acc;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
