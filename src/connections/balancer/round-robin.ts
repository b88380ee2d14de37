import type { Strategy, Target } from './strategy.ts';

/** Each pick takes the next target in id order; a counter per balancer instance. */
export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin' as const;
  #next = 0;

  pick<T extends Target>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const t = candidates[this.#next % candidates.length];
    this.#next = (this.#next + 1) % Number.MAX_SAFE_INTEGER;
    return t;
  }
}
