import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../../core/time/index.ts';
import type { NodeInfo, NodeRegistry } from './types.ts';

/**
 * Nodes in Redis: a hash node → record and a sorted set node → last heartbeat. A node
 * whose heartbeat is older than `ttlMs` is dead: `list()` drops it (and removes it, so
 * the hash doesn't grow with every crashed node).
 */
export class RedisNodeRegistry implements NodeRegistry {
  readonly #redis: Redis | Cluster;
  readonly #hash: string;
  readonly #zset: string;
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(opts: { redis: Redis | Cluster; prefix: string; clock: Clock; ttlMs: number }) {
    this.#redis = opts.redis;
    // One hash tag, so MULTI over both keys works on a Redis Cluster.
    this.#hash = `${opts.prefix}{nodes}:h`;
    this.#zset = `${opts.prefix}{nodes}:z`;
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs;
  }

  async heartbeat(info: NodeInfo): Promise<void> {
    await this.#redis
      .multi()
      .hset(this.#hash, info.node, JSON.stringify(info))
      .zadd(this.#zset, info.updatedAt, info.node)
      .exec();
  }

  async list(): Promise<NodeInfo[]> {
    const cutoff = this.#clock.now() - this.#ttlMs;
    const [dead, raw] = await Promise.all([
      this.#redis.zrangebyscore(this.#zset, '-inf', cutoff),
      this.#redis.hgetall(this.#hash),
    ]);
    if (dead.length > 0) {
      // Only remove what is still stale at removal time (a node may have just come back).
      await this.#redis.zremrangebyscore(this.#zset, '-inf', cutoff);
      await this.#redis.hdel(this.#hash, ...dead);
    }
    const gone = new Set(dead);
    return Object.values(raw)
      .map((r) => JSON.parse(r) as NodeInfo)
      .filter((n) => !gone.has(n.node) && n.updatedAt > cutoff);
  }

  async deregister(node: string): Promise<void> {
    await this.#redis.multi().hdel(this.#hash, node).zrem(this.#zset, node).exec();
  }

  async close(): Promise<void> {}
}
