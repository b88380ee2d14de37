/**
 * Lua scripts of the Redis engines. Each runs atomically on the Redis server, which is
 * what makes offsets one sequence per channel across every node and keeps publications
 * in offset order on the wire. Offsets are stored as stream ids `0-<offset>`.
 *
 * Keys: `<prefix>h:{ch}:m` (hash e=epoch, t=top), `<prefix>h:{ch}:s` (stream of
 * publications). The `{ch}` hash tag keeps a channel's keys in one Redis Cluster slot.
 */

/** Get-or-create the channel's stream meta; a new epoch discards any orphaned stream. */
const META = `
local epoch = redis.call('HGET', KEYS[1], 'e')
local top = 0
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 't', 0)
  redis.call('DEL', KEYS[2])
else
  top = tonumber(redis.call('HGET', KEYS[1], 't'))
end
`;

/**
 * KEYS: meta, stream, pub/sub channel (same `{ch}` hash tag, so a Redis Cluster can run
 * it on one shard). ARGV: epoch candidate, meta ttl ms, entry fields (a JSON object's
 * inside, without braces, without offset), history size, history ttl ms, publish mode
 * ('' = do not publish, 'p' = PUBLISH, 's' = SPUBLISH for sharded pub/sub).
 * Returns {offset, epoch}.
 */
export const APPEND_AND_PUBLISH = `${META}
top = redis.call('HINCRBY', KEYS[1], 't', 1)
local entry = '{"offset":' .. top .. ',' .. ARGV[3] .. '}'
local size = tonumber(ARGV[4])
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, '0-' .. top, 'p', entry)
  if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[6] ~= '' then
  redis.call(ARGV[6] == 's' and 'SPUBLISH' or 'PUBLISH', KEYS[3], '{"t":"p","e":"' .. epoch .. '","p":' .. entry .. '}')
end
return {top, epoch}
`;

/**
 * KEYS: meta, stream. ARGV: epoch candidate, meta ttl ms, mode ('latest' | 'since'),
 * since offset, since epoch, limit. Returns {top, epoch, foreign (0|1), entry…}: with
 * mode 'since' and a foreign epoch (or an offset above top) the oldest kept entries.
 */
export const READ = `${META}
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local limit = tonumber(ARGV[6])
local foreign = 0
local res = {top, epoch, 0}
if limit > 0 then
  local items
  if ARGV[3] == 'latest' then
    items = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit)
  else
    local since = tonumber(ARGV[4])
    if ARGV[5] ~= epoch or since > top then
      foreign = 1
      items = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', limit)
    else
      items = redis.call('XRANGE', KEYS[2], '0-' .. (since + 1), '+', 'COUNT', limit)
    end
  end
  for _, it in ipairs(items) do res[#res + 1] = it[2][2] end
elseif ARGV[3] == 'since' and (ARGV[5] ~= epoch or tonumber(ARGV[4]) > top) then
  foreign = 1
end
res[3] = foreign
return res
`;

/**
 * Exact sliding-window log. KEYS: zset. ARGV: now ms, window ms, limit, unique member.
 * Returns {allowed (0|1), remaining, retryAfterMs}.
 */
export const SLIDING_WINDOW = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
  local retry = math.max(1, tonumber(oldest[2]) + window - now)
  return {0, 0, retry}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, limit - used - 1, 0}
`;

/**
 * Leased concurrency slots. KEYS: zset member → lease expiry. ARGV: now ms, lease ms,
 * max, member. Returns 1 when the member holds a slot.
 */
export const ACQUIRE_SLOT = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`;

/**
 * Presence members with leases. KEYS: hash client → info, zset client → lease expiry.
 * ARGV: now ms. Drops expired members, returns the live infos.
 */
export const PRESENCE_LIST = `
local now = tonumber(ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('HDEL', KEYS[1], unpack(dead))
end
return redis.call('HVALS', KEYS[1])
`;
