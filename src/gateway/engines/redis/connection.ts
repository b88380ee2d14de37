import { Redis, type RedisOptions } from 'ioredis';
import { ACQUIRE_SLOT, APPEND_AND_PUBLISH, PRESENCE_LIST, READ, SLIDING_WINDOW } from './scripts.ts';

/** The ioredis client with Backbeat's Lua scripts registered (EVALSHA with EVAL fallback). */
export interface ScriptedRedis extends Redis {
  bbAppend(meta: string, stream: string, epoch: string, metaTtlMs: number, fields: string, size: number, ttlMs: number, channel: string): Promise<[number, string]>;
  bbRead(meta: string, stream: string, epoch: string, metaTtlMs: number, mode: 'latest' | 'since', since: number, sinceEpoch: string, limit: number): Promise<[number, string, number, ...string[]]>;
  bbWindow(key: string, now: number, windowMs: number, limit: number, member: string): Promise<[number, number, number]>;
  bbAcquireSlot(key: string, now: number, leaseMs: number, max: number, member: string): Promise<number>;
  bbPresenceList(hash: string, zset: string, now: number): Promise<string[]>;
}

export interface RedisConnectOptions {
  url: string;
  /** Fail commands at once while disconnected (no offline queue): callers get 4503 fast. */
  failFast?: boolean;
  connectionName?: string;
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
  const r = new Redis(opts.url, options) as ScriptedRedis;
  r.defineCommand('bbAppend', { numberOfKeys: 2, lua: APPEND_AND_PUBLISH });
  r.defineCommand('bbRead', { numberOfKeys: 2, lua: READ });
  r.defineCommand('bbWindow', { numberOfKeys: 1, lua: SLIDING_WINDOW });
  r.defineCommand('bbAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE_SLOT });
  r.defineCommand('bbPresenceList', { numberOfKeys: 2, lua: PRESENCE_LIST });
  // Errors surface through the commands that fail and the health check; an unhandled
  // 'error' event would crash the process.
  r.on('error', () => undefined);
  return r;
}
