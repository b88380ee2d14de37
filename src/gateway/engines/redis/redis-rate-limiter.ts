import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../../core/time/index.ts';
import type { RateDecision, RateLimiter, RateRule } from '../ports.ts';
import type { ScriptedRedis } from './connection.ts';

/**
 * Cluster-wide limits in Redis: an exact sliding-window log per key (Lua over a sorted
 * set), and leased concurrency slots (e.g. connections per user) that this node renews
 * while it holds them, so a dead node's slots free themselves within `leaseMs`.
 * Times come from the injected clock: keep node clocks in sync (NTP).
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #held = new Map<string, Set<string>>();
  readonly #timer: TimerHandle;
  readonly #node = randomBytes(4).toString('hex');
  #seq = 0;

  constructor(opts: { redis: ScriptedRedis; prefix: string; clock: Clock; leaseMs: number }) {
    this.#redis = opts.redis;
    this.#prefix = opts.prefix;
    this.#clock = opts.clock;
    this.#leaseMs = opts.leaseMs;
    this.#timer = opts.clock.setInterval(
      () => void this.renew().catch(() => undefined),
      Math.max(100, Math.floor(opts.leaseMs / 3)),
    );
  }

  async consume(key: string, rule: RateRule): Promise<RateDecision> {
    const member = `${this.#clock.now()}:${this.#node}:${this.#seq++}`;
    const [allowed, remaining, retry] = await this.#redis.bbWindow(
      `${this.#prefix}rl:{${key}}`,
      this.#clock.now(),
      rule.windowMs,
      rule.limit,
      member,
    );
    return { allowed: allowed === 1, remaining: Number(remaining), retryAfterMs: Number(retry) };
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}rl:{${key}}`);
  }

  async acquireSlot(key: string, member: string, max: number): Promise<boolean> {
    const ok =
      (await this.#redis.bbAcquireSlot(
        `${this.#prefix}slot:{${key}}`,
        this.#clock.now(),
        this.#leaseMs,
        max,
        member,
      )) === 1;
    if (ok) {
      let set = this.#held.get(key);
      if (!set) this.#held.set(key, (set = new Set()));
      set.add(member);
    }
    return ok;
  }

  async releaseSlot(key: string, member: string): Promise<void> {
    const set = this.#held.get(key);
    set?.delete(member);
    if (set?.size === 0) this.#held.delete(key);
    await this.#redis.zrem(`${this.#prefix}slot:{${key}}`, member);
  }

  async slotCount(key: string): Promise<number> {
    return this.#redis.zcount(`${this.#prefix}slot:{${key}}`, `(${this.#clock.now()}`, '+inf');
  }

  /** Renews the leases of the slots this node holds. */
  async renew(): Promise<void> {
    if (this.#held.size === 0) return;
    const until = this.#clock.now() + this.#leaseMs;
    const ops: Promise<unknown>[] = [];
    for (const [key, members] of this.#held) {
      for (const m of members) ops.push(this.#redis.zadd(`${this.#prefix}slot:{${key}}`, 'XX', until, m));
      ops.push(this.#redis.pexpire(`${this.#prefix}slot:{${key}}`, this.#leaseMs * 2));
    }
    await Promise.all(ops);
  }

  async close(): Promise<void> {
    this.#timer.cancel();
    this.#held.clear();
  }
}
