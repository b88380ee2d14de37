/**
 * A balancing strategy picks one target among candidates that are already filtered to
 * healthy ones with spare capacity. Strategies are used for gateway nodes
 * (`GET /v1/connect`) and for outbound endpoint pools. `key` is what sticky strategies
 * hash (the user id for gateway nodes).
 */
export interface Target {
  /** Stable identity (node id, endpoint URL). */
  id: string;
  /** Current load, same unit as capacity (connections, in-flight requests). */
  load: number;
  capacity: number;
  /** Relative weight. @default 1 */
  weight: number;
}

export interface Strategy {
  readonly name: StrategyName;
  pick<T extends Target>(candidates: readonly T[], key?: string): T | undefined;
}

export const STRATEGY_NAMES = ['round-robin', 'least-connections', 'weighted', 'consistent-hash'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Targets a strategy may pick: spare capacity, deterministic order (by id). */
export function eligible<T extends Target>(targets: readonly T[]): T[] {
  return targets.filter((t) => t.load < t.capacity).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
