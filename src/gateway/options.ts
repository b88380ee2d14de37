import type { TokenVerifier } from '../core/auth/index.ts';
import type { Logger, Metrics } from '../core/observability/index.ts';
import type { DependencyBreaker } from '../core/resilience/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { Engines } from './engines/ports.ts';

export interface GatewayOptions {
  nodeId: string;
  maxMessageBytes: number;
  /** Deepest JSON nesting accepted in a frame (MAX_JSON_DEPTH); deeper gets 4400. */
  maxJsonDepth: number;
  maxConnectionsPerUser: number;
  maxSubscriptionsPerConnection: number;
  /** Commands a client may pipeline behind `connect` before its reply (MAX_COMMANDS_BEFORE_CONNECT); past it, 4029. @default 32 */
  maxCommandsBeforeConnect?: number;
  /** Node capacity: upgrades over it are refused with HTTP 503. */
  maxConnections: number;
  rateLimitCommands: number;
  rateLimitWindowMs: number;
  rateLimitCloseAfter: number;
  /** Per-user limit across connections and nodes through the engine RateLimiter (0 = off). */
  userRateLimitCommands: number;
  userRateLimitWindowMs: number;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  outboundMaxBytes: number;
  historySize: number;
  sessionTtlMs: number;
  allowedOrigins: readonly string[] | undefined;
}

/** Where the `event` command hands events (the event stream, wired by the composition root). */
export interface EventSink {
  accept(
    raws: readonly unknown[],
    ctx: { source: 'ws'; ownUser?: string },
  ): Promise<{
    ids: Array<{ id: string; duplicate: boolean }>;
    rejected: Array<{ index: number; error: string }>;
  }>;
}

export interface GatewayDeps {
  engines: Engines;
  verifier: TokenVerifier;
  breaker: DependencyBreaker;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** The event stream; without it the `event` command answers 4503. */
  events?: EventSink;
}
