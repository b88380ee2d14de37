import type { Clock, TimerHandle } from '../../../core/time/index.ts';
import type { ClientInfo, Presence } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

/**
 * Presence in Redis with per-node leases: each member has a lease in a sorted set
 * (score = expiry). This node renews the leases of its own members every `ttlMs / 3`,
 * so the members of a node that dies disappear within `ttlMs`.
 */
export class RedisPresence implements Presence {
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** This node's members: channel → clients. */
  readonly #own = new Map<string, Set<string>>();
  readonly #timer: TimerHandle;

  constructor(opts: { redis: ScriptedRedis; prefix: string; clock: Clock; ttlMs: number }) {
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs;
    this.#timer = opts.clock.setInterval(
      () => void this.renew().catch(() => undefined),
      Math.max(100, Math.floor(opts.ttlMs / 3)),
    );
  }

  #keys(channel: string): [hash: string, zset: string] {
    return [`${this.#prefix}p:{${channel}}:h`, `${this.#prefix}p:{${channel}}:z`];
  }

  async add(channel: string, info: Required<ClientInfo>): Promise<void> {
    const [hash, zset] = this.#keys(channel);
    await this.#redis
      .multi()
      .hset(hash, info.client, JSON.stringify({ user: info.user, client: info.client }))
      .zadd(zset, this.#clock.now() + this.#ttlMs, info.client)
      .pexpire(hash, this.#ttlMs * 3)
      .pexpire(zset, this.#ttlMs * 3)
      .exec();
    let set = this.#own.get(channel);
    if (!set) this.#own.set(channel, (set = new Set()));
    set.add(info.client);
  }

  async remove(channel: string, client: string): Promise<void> {
    const set = this.#own.get(channel);
    set?.delete(client);
    if (set?.size === 0) this.#own.delete(channel);
    const [hash, zset] = this.#keys(channel);
    await this.#redis.multi().hdel(hash, client).zrem(zset, client).exec();
  }

  async list(channel: string): Promise<Required<ClientInfo>[]> {
    const [hash, zset] = this.#keys(channel);
    const raw = await this.#redis.bbPresenceList(hash, zset, this.#clock.now());
    return raw.map((r) => JSON.parse(r) as Required<ClientInfo>);
  }

  /** Extends the leases of this node's members (runs on an interval). */
  async renew(): Promise<void> {
    if (this.#own.size === 0) return;
    const until = this.#clock.now() + this.#ttlMs;
    // One command per key (auto-pipelined per node): valid across Redis Cluster slots.
    const ops: Promise<unknown>[] = [];
    for (const [channel, clients] of this.#own) {
      const [hash, zset] = this.#keys(channel);
      for (const c of clients) ops.push(this.#redis.zadd(zset, 'XX', until, c));
      ops.push(this.#redis.pexpire(hash, this.#ttlMs * 3), this.#redis.pexpire(zset, this.#ttlMs * 3));
    }
    await Promise.all(ops);
  }

  async close(): Promise<void> {
    this.#timer.cancel();
    this.#own.clear();
  }
}
