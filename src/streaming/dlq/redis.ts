import { LuaScript, onRedis, type RedisLike } from '../log/redis-script.ts';
import {
  clampLimit,
  DEFAULT_MAX_DEAD_LETTERS,
  MAX_TAKE,
  type DeadLetter,
  type DeadLetterStore,
  type DeadLetterStoreOptions,
} from './store.ts';

export interface RedisDeadLetterStoreOptions extends DeadLetterStoreOptions {
  redis: RedisLike;
  /** Key prefix (REDIS_PREFIX). */
  prefix: string;
  /** Called by close() (the owner of a shared connection lets go of it). */
  onClose?: () => Promise<void>;
}

/**
 * The cluster dead-letter queue in Redis (REDIS_URL without DATABASE_URL), shared by every
 * node. Keys, all under one hash tag `{bb-dlq}` so the scripts also run on a Redis Cluster:
 * - `letters` hash id → the letter as JSON (as put; never re-encoded by Lua, so the event's
 *   numbers keep their precision), `meta` hash id → {a: attempts, f: firstFailedAt,
 *   h: handler, u: userId} (the upsert adds attempts there; reads take them from it);
 * - `ids` sorted set (score 0, lexicographic): listing by id with a cursor;
 * - `by-handler`, `by-user` sorted sets of `handler\0id` / `user\0id`: the handler filter
 *   and the GDPR export/erasure without a scan;
 * - `first` sorted set id → firstFailedAt: the cap drops the oldest first;
 * - `lease` hash id → lease end (ms): replay claims.
 * Each write (put, remove, take, erase) is one Lua script: atomic, so two nodes replaying at
 * once take disjoint letters. Durability is Redis' own (AOF `appendfsync everysec` or
 * `always` for an acknowledged letter to survive a Redis crash; see docs/operations.md).
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  readonly #o: RedisDeadLetterStoreOptions;
  readonly #keys: string[];
  readonly #max: number;

  constructor(opts: RedisDeadLetterStoreOptions) {
    this.#o = opts;
    this.#max = Math.max(1, opts.maxLetters ?? DEFAULT_MAX_DEAD_LETTERS);
    const k = (name: string) => `${opts.prefix}{bb-dlq}:${name}`;
    this.#keys = [k('letters'), k('meta'), k('ids'), k('first'), k('by-handler'), k('by-user'), k('lease')];
  }

  get #redis(): RedisLike {
    return this.#o.redis;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async put(dl: DeadLetter): Promise<void> {
    const dropped = await onRedis('dead-letter put', () =>
      PUT.run(this.#redis, this.#keys, [
        dl.id,
        JSON.stringify(dl),
        dl.attempts,
        dl.firstFailedAt,
        dl.handler,
        dl.event.userId,
        this.#max,
      ]),
    );
    if (Number(dropped) > 0) this.#o.onDropped?.(Number(dropped));
  }

  async list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    const limit = clampLimit(opts.limit);
    const ids = await onRedis('dead-letter list', async () => {
      if (opts.handler === undefined) {
        const from = opts.after ? `(${opts.after}` : '-';
        return this.#redis.zrangebylex(this.#keys[2]!, from, '+', 'LIMIT', 0, limit);
      }
      const base = `${opts.handler}\0`;
      const from = opts.after ? `(${base}${opts.after}` : `[${base}`;
      const members = await this.#redis.zrangebylex(
        this.#keys[4]!,
        from,
        `(${opts.handler}\x01`,
        'LIMIT',
        0,
        limit,
      );
      return members.map((m) => m.slice(base.length));
    });
    return this.get(ids);
  }

  async get(ids: readonly string[]): Promise<DeadLetter[]> {
    if (!ids.length) return [];
    const [bodies, metas] = await onRedis('dead-letter read', () =>
      Promise.all([this.#redis.hmget(this.#keys[0]!, ...ids), this.#redis.hmget(this.#keys[1]!, ...ids)]),
    );
    const out: DeadLetter[] = [];
    bodies.forEach((b, i) => {
      const m = metas[i];
      if (b && m) out.push(merge(b, m));
    });
    return out;
  }

  async remove(ids: readonly string[]): Promise<number> {
    if (!ids.length) return 0;
    return Number(await onRedis('dead-letter remove', () => REMOVE.run(this.#redis, this.#keys, ids)));
  }

  async count(): Promise<number> {
    return onRedis('dead-letter count', () => this.#redis.zcard(this.#keys[2]!));
  }

  async take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]> {
    const now = this.#now();
    const limit = Math.min(clampLimit(opts.limit), MAX_TAKE);
    const flat = (await onRedis('dead-letter take', () =>
      TAKE.run(this.#redis, this.#keys, [
        now,
        now + Math.max(1, opts.leaseMs),
        limit,
        opts.ids ? 'ids' : 'all',
        ...(opts.ids ?? []),
      ]),
    )) as string[];
    const out: DeadLetter[] = [];
    for (let i = 0; i < flat.length; i += 3) out.push(merge(flat[i + 1]!, flat[i + 2]!));
    return out;
  }

  async release(ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    await onRedis('dead-letter release', () => this.#redis.hdel(this.#keys[6]!, ...ids));
  }

  async forUser(userId: string): Promise<DeadLetter[]> {
    const base = `${userId}\0`;
    const members = await onRedis('dead-letter export', () =>
      this.#redis.zrangebylex(this.#keys[5]!, `[${base}`, `(${userId}\x01`),
    );
    return this.get(members.map((m) => m.slice(base.length)));
  }

  async eraseUser(userId: string): Promise<number> {
    return Number(
      await onRedis('dead-letter erasure', () => ERASE_USER.run(this.#redis, this.#keys, [userId])),
    );
  }

  async close(): Promise<void> {
    await this.#o.onClose?.();
  }
}

function merge(body: string, meta: string): DeadLetter {
  const dl = JSON.parse(body) as DeadLetter;
  const m = JSON.parse(meta) as { a: number; f: number };
  dl.attempts = m.a;
  dl.firstFailedAt = m.f;
  return dl;
}

/** KEYS: letters, meta, ids, first, by-handler, by-user, lease. `drop(id)` removes a letter from all of them. */
const DROP = `
local function drop(id)
  local m = redis.call('HGET', KEYS[2], id)
  if not m then return 0 end
  local meta = cjson.decode(m)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[5], meta.h .. '\\0' .. id)
  redis.call('ZREM', KEYS[6], meta.u .. '\\0' .. id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[7], id)
  return 1
end
`;

/** ARGV: id, body, attempts, firstFailedAt, handler, userId, max. Returns how many old letters the cap dropped. */
const PUT = new LuaScript(`${DROP}
local id = ARGV[1]
local a = tonumber(ARGV[3])
local f = tonumber(ARGV[4])
local m = redis.call('HGET', KEYS[2], id)
if m then
  local old = cjson.decode(m)
  a = a + old.a
  f = old.f
else
  redis.call('ZADD', KEYS[3], 0, id)
  redis.call('ZADD', KEYS[4], f, id)
  redis.call('ZADD', KEYS[5], 0, ARGV[5] .. '\\0' .. id)
  redis.call('ZADD', KEYS[6], 0, ARGV[6] .. '\\0' .. id)
end
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('HSET', KEYS[2], id, cjson.encode({a = a, f = f, h = ARGV[5], u = ARGV[6]}))
redis.call('HDEL', KEYS[7], id)
local dropped = 0
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
if over > 0 then
  for _, x in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do dropped = dropped + drop(x) end
end
return dropped
`);

/** ARGV: ids. Returns how many were removed. */
const REMOVE = new LuaScript(`${DROP}
local n = 0
for i = 1, #ARGV do n = n + drop(ARGV[i]) end
return n
`);

/** ARGV: userId. Returns how many letters of the user were removed. */
const ERASE_USER = new LuaScript(`${DROP}
local base = ARGV[1] .. '\\0'
local members = redis.call('ZRANGEBYLEX', KEYS[6], '[' .. base, '(' .. ARGV[1] .. '\\1')
local n = 0
for _, m in ipairs(members) do n = n + drop(string.sub(m, #base + 1)) end
return n
`);

/**
 * ARGV: now, lease end, limit, 'ids' | 'all', ids… Leases letters not leased now (the given
 * ids, or the first by id) and returns id, body, meta for each, flat.
 */
const TAKE = new LuaScript(`
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local out = {}
local taken = 0
local function try(id)
  if redis.call('HEXISTS', KEYS[1], id) == 0 then return end
  local lease = tonumber(redis.call('HGET', KEYS[7], id) or '0')
  if lease > now then return end
  redis.call('HSET', KEYS[7], id, ARGV[2])
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[1], id)
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
  taken = taken + 1
end
if ARGV[4] == 'ids' then
  for i = 5, #ARGV do
    if taken >= limit then break end
    try(ARGV[i])
  end
else
  local from = '-'
  while taken < limit do
    local page = redis.call('ZRANGEBYLEX', KEYS[3], from, '+', 'LIMIT', 0, 500)
    if #page == 0 then break end
    for _, id in ipairs(page) do
      if taken >= limit then break end
      try(id)
    end
    from = '(' .. page[#page]
  end
end
return out
`);
