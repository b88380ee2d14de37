import { ConsistentHashStrategy } from './consistent-hash.ts';
import { LeastConnectionsStrategy } from './least-connections.ts';
import { RoundRobinStrategy } from './round-robin.ts';
import type { Strategy, StrategyName } from './strategy.ts';
import { WeightedStrategy } from './weighted.ts';

export { ConsistentHashStrategy, LeastConnectionsStrategy, RoundRobinStrategy, WeightedStrategy };
export { eligible, STRATEGY_NAMES, type Strategy, type StrategyName, type Target } from './strategy.ts';

export function createStrategy(name: StrategyName): Strategy {
  switch (name) {
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'least-connections':
      return new LeastConnectionsStrategy();
    case 'weighted':
      return new WeightedStrategy();
    case 'consistent-hash':
      return new ConsistentHashStrategy();
  }
}
