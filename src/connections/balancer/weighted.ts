import type { Strategy, Target } from './strategy.ts';

/**
 * Smooth weighted round-robin (nginx's algorithm) over effective weights
 * `weight × spare capacity fraction`: over any window each target is picked in
 * proportion to its effective weight, without bursts, and a loaded node gets less.
 */
export class WeightedStrategy implements Strategy {
  readonly name = 'weighted' as const;
  readonly #current = new Map<string, number>();

  pick<T extends Target>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    let total = 0;
    let best: T | undefined;
    let bestCurrent = -Infinity;
    const seen = new Set<string>();
    for (const t of candidates) {
      const spare = Math.max(0, 1 - t.load / Math.max(1, t.capacity));
      const eff = Math.max(0, t.weight) * spare;
      total += eff;
      const cur = (this.#current.get(t.id) ?? 0) + eff;
      this.#current.set(t.id, cur);
      seen.add(t.id);
      if (cur > bestCurrent) {
        best = t;
        bestCurrent = cur;
      }
    }
    for (const id of this.#current.keys()) if (!seen.has(id)) this.#current.delete(id);
    if (best && total > 0) this.#current.set(best.id, bestCurrent - total);
    return total > 0 ? best : candidates[0];
  }
}
