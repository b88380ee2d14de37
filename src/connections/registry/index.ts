export type { NodeInfo, NodeRegistry } from './types.ts';
export { MemoryNodeRegistry } from './memory-registry.ts';
export { RedisNodeRegistry } from './redis-registry.ts';
