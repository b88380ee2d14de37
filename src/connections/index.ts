export { ConnectionManager, type ConnectionManagerOptions } from './manager.ts';
export {
  createStrategy,
  STRATEGY_NAMES,
  eligible,
  type Strategy,
  type StrategyName,
  type Target,
} from './balancer/index.ts';
export { MemoryNodeRegistry, RedisNodeRegistry, type NodeInfo, type NodeRegistry } from './registry/index.ts';
export { KeyOwnership } from './ownership.ts';
