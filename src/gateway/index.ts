export { Gateway, type GatewayDeps, type GatewayOptions } from './gateway.ts';
export { ChannelService, type PublishResult } from './channels.ts';
export { GatewayMetrics, type PublishSource } from './metrics.ts';
export { createMemoryEngines } from './engines/memory/index.ts';
export { createRedisEngines, connectRedis, waitReady } from './engines/redis/index.ts';
export type { ScriptedRedis } from './engines/redis/connection.ts';
export type * from './engines/ports.ts';
export {
  CHANNEL_PATTERN,
  COMMAND_TYPES,
  CommandSchemas,
  isValidChannel,
  parseCommand,
} from './protocol/index.ts';
