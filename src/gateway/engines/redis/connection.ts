import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { lazyModule } from '../../../core/modules/index.ts';

/** ioredis, loaded on the first connection (an embedded node never opens one). */
const ioredis = lazyModule<typeof import('ioredis')>('ioredis');
import { ACQUIRE_SLOT, APPEND_AND_PUBLISH, PRESENCE_LIST, READ, SLIDING_WINDOW } from './scripts.ts';

/** The ioredis client with Backbeat's Lua scripts registered (EVALSHA with EVAL fallback). */
export type ScriptedRedis = (Redis | Cluster) & ScriptCommands;

interface ScriptCommands {
  bbAppend(
    meta: string,
    stream: string,
    channel: string,
    epoch: string,
    metaTtlMs: number,
    fields: string,
    size: number,
    ttlMs: number,
    mode: '' | 'p' | 's',
  ): Promise<[number, string]>;
  bbRead(
    meta: string,
    stream: string,
    epoch: string,
    metaTtlMs: number,
    mode: 'latest' | 'since',
    since: number,
    sinceEpoch: string,
    limit: number,
  ): Promise<[number, string, number, ...string[]]>;
  bbWindow(
    key: string,
    now: number,
    windowMs: number,
    limit: number,
    member: string,
  ): Promise<[number, number, number]>;
  bbAcquireSlot(key: string, now: number, leaseMs: number, max: number, member: string): Promise<number>;
  bbPresenceList(hash: string, zset: string, now: number): Promise<string[]>;
}

export interface RedisConnectOptions {
  url: string;
  /** Fail commands at once while disconnected (no offline queue): callers get 4503 fast. */
  failFast?: boolean;
  connectionName?: string;
  /** The URL is a seed node of a Redis Cluster (sharded pub/sub for channels). */
  cluster?: boolean;
}

/**
 * Opens a client for `redis://` or `rediss://` URLs (TLS and AUTH come from the URL).
 * Reconnects forever with capped backoff; with `failFast` commands issued while the
 * connection is down reject immediately instead of queueing.
 */
export function connectRedis(opts: RedisConnectOptions): ScriptedRedis {
  const options: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: !opts.failFast,
    maxRetriesPerRequest: opts.failFast ? 0 : 20,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: opts.connectionName,
    enableAutoPipelining: true,
  };
  if (opts.url.startsWith('rediss:')) options.tls = {};
  let r: ScriptedRedis;
  if (opts.cluster) {
    const u = new URL(opts.url);
    r = new (ioredis().Cluster)([{ host: u.hostname, port: Number(u.port || 6379) }], {
      // Node connections keep ioredis' defaults (the cluster's slot discovery runs on them);
      // failing fast is the cluster client's job (enableOfflineQueue below).
      redisOptions: {
        connectionName: opts.connectionName,
        ...(options.tls ? { tls: options.tls } : {}),
        username: decodeURIComponent(u.username) || undefined,
        password: decodeURIComponent(u.password) || undefined,
      },
      enableOfflineQueue: !opts.failFast,
      enableAutoPipelining: true,
      shardedSubscribers: true,
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    }) as ScriptedRedis;
  } else {
    r = new (ioredis().Redis)(opts.url, options) as ScriptedRedis;
  }
  r.defineCommand('bbAppend', { numberOfKeys: 3, lua: APPEND_AND_PUBLISH });
  r.defineCommand('bbRead', { numberOfKeys: 2, lua: READ });
  r.defineCommand('bbWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW });
  r.defineCommand('bbAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE_SLOT });
  r.defineCommand('bbPresenceList', { numberOfKeys: 2, lua: PRESENCE_LIST });
  // Errors surface through the commands that fail and the health check; an unhandled
  // 'error' event would crash the process.
  r.on('error', () => undefined);
  return r;
}
