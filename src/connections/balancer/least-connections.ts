import type { Strategy, Target } from './strategy.ts';

/**
 * The target with the lowest load relative to its capacity; ties go to the lower id so
 * the answer is deterministic.
 */
export class LeastConnectionsStrategy implements Strategy {
  readonly name = 'least-connections' as const;

  pick<T extends Target>(candidates: readonly T[]): T | undefined {
    let best: T | undefined;
    let bestRatio = Infinity;
    for (const t of candidates) {
      const ratio = t.load / Math.max(1, t.capacity);
      if (ratio < bestRatio) {
        best = t;
        bestRatio = ratio;
      }
    }
    return best;
  }
}
