import { randomUUID } from 'node:crypto';
import { UnavailableError } from '../../core/errors/index.ts';
import { IdWindow, type DedupeWindow } from './dedupe.ts';
import type { LogHealth } from './port.ts';
import { LuaScript, onRedis, type RedisLike } from './redis-script.ts';

export interface RedisDedupeOptions {
  redis: RedisLike;
  /** Key prefix (REDIS_PREFIX). */
  prefix: string;
  /** Ids remembered at most, cluster-wide (EVENT_DEDUPE_WINDOW). @default 250_000 */
  maxIds?: number;
  /** How long an id is remembered, ms (EVENT_DEDUPE_TTL_MS). @default 7 days */
  ttlMs?: number;
  /**
   * How long a claim stays pending (its append in flight) before another node may take it
   * over: longer than any append (the Kafka producer gives up within seconds). @default 60_000
   */
  pendingMs?: number;
  /** How long a claim waits for an id another request is appending right now, before a 503. @default 2_000 */
  inFlightWaitMs?: number;
  /** Ids this node committed, kept in memory to answer repeats without Redis. @default min(maxIds, 100_000) */
  localIds?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called by close() (the owner of a shared connection lets go of it). */
  onClose?: () => Promise<void>;
}

/** Per id: new (claimed now, pending), a duplicate, or pending in another request's append. */
const NEW = 0;
const DUPLICATE = 1;
const IN_FLIGHT = 2;
/** Pending under this window's own token (a claim of ours: in flight here, or left by a failed call). */
const OURS = 3;

/**
 * The cluster-wide dedupe window in Redis: one key per event id, `{bb-dedupe}` hash tag.
 *
 * - `claim` (one Lua script per batch) sets each new id **pending** (`p:<at>:<token>`, PX
 *   `pendingMs`) and reports ids done within `ttlMs` (`d:<at>`) as duplicates. An id pending
 *   in another request (this node or another) is waited for (`inFlightWaitMs`) and then
 *   answered 503: "duplicate" is only ever said of an event whose first append is durable,
 *   so a client is never told its event is in when the first append then fails.
 * - `commit` (after the durable append) marks the ids done (`d:<at>`, PX `ttlMs`) and adds
 *   them to a sorted set by time, trimmed to `maxIds` (the oldest keys are deleted): the
 *   same time and count bounds as the embedded `IdWindow`. Times are the caller's clock
 *   (stored in the value, compared in the script), so every node applies one window.
 * - `release` (the append failed) deletes the ids still pending under this window's token.
 * - Redis failing is a `UnavailableError` (503 / 4503) from `claim`: the batch is refused,
 *   nothing appended, never a silent pass. A failing `commit` (the append is already
 *   durable) leaves the ids pending until `pendingMs`, then new: at worst a later resend is
 *   appended twice (at-least-once; the processor drops repeats it recently handled).
 * - Ids this node committed stay in a local `IdWindow` (with their time): a repeat sent to
 *   this node again is answered without a round trip.
 */
export class RedisDedupeWindow implements DedupeWindow {
  readonly #o: RedisDedupeOptions;
  readonly #token = randomUUID();
  readonly #zset: string;
  readonly #maxIds: number;
  readonly #ttlMs: number;
  readonly #pendingMs: number;
  readonly #local: IdWindow;
  /** Ids this window claimed whose append has not ended yet. */
  readonly #inFlight = new Set<string>();

  constructor(opts: RedisDedupeOptions) {
    this.#o = opts;
    this.#maxIds = Math.max(1, opts.maxIds ?? 250_000);
    this.#ttlMs = Math.max(1, opts.ttlMs ?? 7 * 86_400_000);
    this.#pendingMs = Math.max(1, opts.pendingMs ?? 60_000);
    this.#local = new IdWindow(opts.localIds ?? Math.min(this.#maxIds, 100_000));
    this.#zset = `${opts.prefix}{bb-dedupe}:z`;
  }

  #key(id: string): string {
    return `${this.#o.prefix}{bb-dedupe}:i:${id}`;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async claim(ids: readonly string[]): Promise<boolean[]> {
    const now = this.#now();
    const since = now - this.#ttlMs + 1;
    const out: boolean[] = new Array<boolean>(ids.length).fill(true);
    // First occurrence of each id not known locally; later occurrences in the call are duplicates.
    const first = new Map<string, number>();
    ids.forEach((id, i) => {
      if (first.has(id)) return;
      first.set(id, i);
      if (this.#local.has(id, since)) first.set(id, -1);
    });
    let ask = [...first].filter(([, i]) => i >= 0).map(([id]) => id);
    const claimed: string[] = [];
    let waited = 0;
    let step = 10;
    const maxWait = this.#o.inFlightWaitMs ?? 2_000;
    for (;;) {
      const states = ask.length ? await this.#claimScript(ask, now) : [];
      const busy: string[] = [];
      ask.forEach((id, i) => {
        const s = states[i];
        if (s === NEW || (s === OURS && !this.#inFlight.has(id))) {
          claimed.push(id);
          this.#inFlight.add(id);
          out[first.get(id)!] = false;
        } else if (s === IN_FLIGHT || s === OURS) busy.push(id);
        // DUPLICATE: stays true.
      });
      if (!busy.length) return out;
      if (waited >= maxWait) {
        await this.release(claimed).catch(() => undefined);
        throw new UnavailableError(
          `event ${busy.length === 1 ? 'id' : 'ids'} ${busy.slice(0, 3).join(', ')}${busy.length > 3 ? ', …' : ''} ` +
            'being appended by another request right now; retry',
        );
      }
      await (this.#o.sleep ?? sleep)(step);
      waited += step;
      step = Math.min(step * 2, 200);
      ask = busy;
    }
  }

  async #claimScript(ids: readonly string[], now: number): Promise<number[]> {
    const res = await onRedis('event dedupe', () =>
      CLAIM.run(
        this.#o.redis,
        ids.map((id) => this.#key(id)),
        [this.#token, now, this.#ttlMs, this.#pendingMs],
      ),
    );
    return (res as unknown[]).map(Number);
  }

  async commit(ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    const now = this.#now();
    try {
      const popped = (await onRedis('event dedupe commit', () =>
        COMMIT.run(
          this.#o.redis,
          [...ids.map((id) => this.#key(id)), this.#zset],
          [now, this.#ttlMs, this.#maxIds, ...ids],
        ),
      )) as string[];
      for (const id of ids) this.#local.add(id, now);
      // ZPOPMIN answers member, score pairs: delete the keys of the members pushed out.
      const evicted = popped.filter((_, i) => i % 2 === 0);
      for (let i = 0; i < evicted.length; i += 500) {
        const keys = evicted.slice(i, i + 500).map((id) => this.#key(id));
        await onRedis('event dedupe eviction', () => EVICT.run(this.#o.redis, keys, []));
      }
    } finally {
      for (const id of ids) this.#inFlight.delete(id);
    }
  }

  async release(ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    for (const id of ids) {
      this.#inFlight.delete(id);
      this.#local.delete(id);
    }
    await onRedis('event dedupe release', () =>
      RELEASE.run(
        this.#o.redis,
        ids.map((id) => this.#key(id)),
        [this.#token],
      ),
    );
  }

  health(): LogHealth {
    const status = this.#o.redis.status;
    return status === 'ready' ? { ok: true } : { ok: false, detail: `event dedupe: redis ${status}` };
  }

  async close(): Promise<void> {
    await this.#o.onClose?.();
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** KEYS: one per id. ARGV: token, now, ttlMs, pendingMs. Returns per id NEW / DUPLICATE / IN_FLIGHT / OURS. */
const CLAIM = new LuaScript(`
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local pend = tonumber(ARGV[4])
local out = {}
for i, k in ipairs(KEYS) do
  local state = ${NEW}
  local v = redis.call('GET', k)
  if v then
    local kind, at, token = string.match(v, '^(%a):(%-?%d+):?(.*)$')
    at = tonumber(at)
    if kind == 'd' and at and at > now - ttl then
      state = ${DUPLICATE}
    elseif kind == 'p' and at and at > now - pend then
      if token == ARGV[1] then state = ${OURS} else state = ${IN_FLIGHT} end
    end
  end
  if state == ${NEW} then redis.call('SET', k, 'p:' .. ARGV[2] .. ':' .. ARGV[1], 'PX', pend) end
  out[i] = state
end
return out
`);

/** KEYS: one per id, then the sorted set. ARGV: now, ttlMs, maxIds, ids… Returns ZPOPMIN's pairs of ids over the count bound. */
const COMMIT = new LuaScript(`
local n = #KEYS - 1
local z = KEYS[#KEYS]
local now = tonumber(ARGV[1])
for i = 1, n do
  redis.call('SET', KEYS[i], 'd:' .. ARGV[1], 'PX', ARGV[2])
  redis.call('ZADD', z, now, ARGV[3 + i])
end
redis.call('ZREMRANGEBYSCORE', z, '-inf', now - tonumber(ARGV[2]))
local over = redis.call('ZCARD', z) - tonumber(ARGV[3])
if over > 0 then return redis.call('ZPOPMIN', z, over) end
return {}
`);

/** KEYS: ids pushed out of the window. Deletes those still done (not claimed again since). */
const EVICT = new LuaScript(`
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, 2) == 'd:' then redis.call('DEL', k) end
end
return 0
`);

/** KEYS: one per id. ARGV: token. Deletes the ids still pending under this token. */
const RELEASE = new LuaScript(`
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and string.sub(v, 1, 2) == 'p:' and string.sub(v, -#ARGV[1] - 1) == ':' .. ARGV[1] then redis.call('DEL', k) end
end
return 0
`);
