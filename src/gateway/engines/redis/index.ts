import type { Logger } from '../../../core/observability/index.ts';
import type { Clock } from '../../../core/time/index.ts';
import type { Engines } from '../ports.ts';
import { closePorts } from '../close-ports.ts';
import { connectRedis, type ScriptedRedis } from './connection.ts';
import { RedisBroker } from './redis-broker.ts';
import { RedisHistory } from './redis-history.ts';
import { RedisPresence } from './redis-presence.ts';
import { RedisRateLimiter } from './redis-rate-limiter.ts';
import { RedisSessionStore } from './redis-sessions.ts';

export { RedisBroker, RedisHistory, RedisPresence, RedisRateLimiter, RedisSessionStore, connectRedis };

export interface RedisEngineOptions {
  url: string;
  /** Key and channel prefix, so several deployments (or tests) share one Redis. @default "bb:" */
  prefix: string;
  clock: Clock;
  logger: Logger;
  historySize: number;
  historyTtlMs: number;
  historyMetaTtlMs: number;
  /** Presence lease: members of a dead node disappear within this. @default 9000 */
  presenceTtlMs: number;
  /** Slot lease (connections per user): a dead node's slots free within this. @default 30000 */
  slotLeaseMs: number;
  /** How long `start()` waits for Redis. @default 10000 */
  connectTimeoutMs?: number;
  /** `url` is a seed node of a Redis Cluster: sharded pub/sub per channel. */
  cluster?: boolean;
}

/** Resolves when the client is ready; rejects with the last connection error after `ms`. */
export function waitReady(r: ScriptedRedis, ms = 10_000): Promise<void> {
  if (r.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let last: Error | undefined;
    const onError = (err: Error): void => {
      last = err;
      // Wrong credentials will not fix themselves: fail now rather than at the deadline.
      if (/WRONGPASS|NOAUTH|invalid (username-)?password|NOPERM/i.test(err.message)) {
        clearTimeout(t);
        r.off('ready', onReady);
        r.off('error', onError);
        reject(new Error(`cannot reach redis: ${err.message}`));
      }
    };
    const t = setTimeout(() => {
      r.off('ready', onReady);
      r.off('error', onError);
      reject(new Error(`cannot reach redis: ${last?.message ?? 'timed out'}`));
    }, ms);
    const onReady = (): void => {
      clearTimeout(t);
      r.off('error', onError);
      resolve();
    };
    r.once('ready', onReady);
    r.on('error', onError);
  });
}

/**
 * The cluster engines on Redis: two connections (commands, fail-fast; and the pub/sub
 * subscriber). Publishing is one Lua script: XADD to the channel's stream + PUBLISH, so
 * offsets are one sequence per channel across nodes and arrive in order.
 */
export function createRedisEngines(opts: RedisEngineOptions): Engines {
  const cluster = opts.cluster === true;
  const redis = connectRedis({ url: opts.url, failFast: true, connectionName: 'backbeat', cluster });
  const sub = connectRedis({ url: opts.url, failFast: true, connectionName: 'backbeat-sub', cluster });
  const history = new RedisHistory({
    redis,
    prefix: opts.prefix,
    clock: opts.clock,
    size: opts.historySize,
    ttlMs: opts.historyTtlMs,
    metaTtlMs: opts.historyMetaTtlMs,
  });
  const broker = new RedisBroker({
    pub: redis,
    sub,
    prefix: opts.prefix,
    logger: opts.logger,
    sharded: cluster,
  });
  const presence = new RedisPresence({
    redis,
    prefix: opts.prefix,
    clock: opts.clock,
    ttlMs: opts.presenceTtlMs,
  });
  const rateLimiter = new RedisRateLimiter({
    redis,
    prefix: opts.prefix,
    clock: opts.clock,
    leaseMs: opts.slotLeaseMs,
  });
  const sessions = new RedisSessionStore({ redis, prefix: opts.prefix });
  const ports = { history, broker, presence, rateLimiter, sessions };
  return {
    kind: 'redis',
    publish: (channel, pub) =>
      history.appendAndPublish(channel, pub, broker.channelKey(channel), cluster ? 's' : 'p'),
    async start() {
      await Promise.all([waitReady(redis, opts.connectTimeoutMs), waitReady(sub, opts.connectTimeoutMs)]);
      const ms = opts.connectTimeoutMs ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        broker.ready,
        new Promise(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error('cannot reach redis: control channel subscribe timed out')),
              ms,
            )),
        ),
      ]).finally(() => clearTimeout(timer));
    },
    health: () => ({
      redis: { ok: redis.status === 'ready', detail: redis.status },
      'redis-subscriber': { ok: broker.subscriberReady, detail: sub.status },
    }),
    ...ports,
    async close() {
      await closePorts(ports);
      await Promise.allSettled([redis.quit(), sub.quit()]);
      redis.disconnect();
      sub.disconnect();
    },
  };
}
