import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { UnavailableError } from '../../core/errors/index.ts';

/** A Redis connection (single node or cluster) the event stream's shared engines use. */
export type RedisLike = Redis | Cluster;

/**
 * A Lua script run by its SHA (EVALSHA), loaded with EVAL the first time a server does not
 * know it (NOSCRIPT: a restart, a failover, a new cluster node). Every key it touches is
 * passed in KEYS and shares one hash tag, so it also runs on a Redis Cluster.
 */
export class LuaScript {
  readonly #lua: string;
  readonly #sha: string;

  constructor(lua: string) {
    this.#lua = lua;
    this.#sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(
    redis: RedisLike,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.includes('NOSCRIPT'))
        return redis.eval(this.#lua, keys.length, ...keys, ...args);
      throw err;
    }
  }
}

/**
 * Any failure of a Redis command, as the dependency error (UNAVAILABLE, 503 / 4503): the
 * connection fails fast (no offline queue), so a Redis that is down, restarting, out of
 * memory or read-only reaches the caller at once instead of being waited for.
 */
export function redisUnavailable(what: string, err: unknown): UnavailableError {
  if (err instanceof UnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UnavailableError(`${what}: redis unavailable (${message})`, { cause: err });
}

/** Runs `fn`, turning a Redis failure into `redisUnavailable(what)`. */
export async function onRedis<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw redisUnavailable(what, err);
  }
}
