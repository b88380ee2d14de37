/**
 * Per-user analytics state, keyed by pseudonym: counts, listening sessions, active days,
 * top artists (bounded), last seen, the truncated network. No user id, no free text: what
 * an event carries beyond ids of catalogue items, numbers and enums is never copied here
 * (the IP only after `truncateIp`).
 *
 * Stored as records in slabs indexed by slot, not as an object per user: one float64
 * record (counters, times, the session state of sessions.ts) and one int32 run of
 * top-artist counters per user. An event then touches a few adjacent cache lines of its
 * user, where objects with boxed doubles and separate arrays cost a cache miss each — the
 * difference between the fold being memory-bound or not (bench/analytics.ts).
 */
import { classifyPlay, packColumn, type StringColumn, unpackColumn } from '../streaming/index.ts';
import {
  addToSessions,
  clearSessions,
  openSessions,
  sessionSlots,
  sessionSummary,
  type SessionRules,
} from './sessions.ts';

export const DAY_MS = 86_400_000;
/** Days of activity remembered (bits of the day mask). */
const DAY_BITS = 32;

/** Event types analytics folds, as small integers (no string compares on the hot path). */
export const EventKind = {
  played: 0,
  skipped: 1,
  liked: 2,
  added: 3,
  appOpened: 4,
  notificationOpened: 5,
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];
export const KIND_OF_TYPE: ReadonlyMap<string, EventKind> = new Map([
  ['track.played', EventKind.played],
  ['track.skipped', EventKind.skipped],
  ['track.liked', EventKind.liked],
  ['playlist.track_added', EventKind.added],
  ['app.opened', EventKind.appOpened],
  ['notification.opened', EventKind.notificationOpened],
]);
const PLATFORMS = ['ios', 'android', 'web', 'desktop'] as const;

/** What analytics takes of an event (everything else is left behind). */
export interface Fact {
  kind: EventKind;
  /** Event time, ms (clamped to the future-skew bound). */
  t: number;
  trackId: string | undefined;
  artistId: string | undefined;
  playedMs: number;
  durationMs: number;
  /** Index in PLATFORMS + 1; 0 = none. */
  platform: number;
  /** Truncated IP (see ip.ts). */
  network: string | undefined;
}

export const emptyFact = (): Fact => ({
  kind: EventKind.played,
  t: 0,
  trackId: undefined,
  artistId: undefined,
  playedMs: 0,
  durationMs: 0,
  platform: 0,
  network: undefined,
});

/** Fills `f` from an event's data (no allocation). */
export function readFact(f: Fact, kind: EventKind, t: number, d: Record<string, unknown>): void {
  f.kind = kind;
  f.t = t;
  const trackId = d['trackId'];
  const artistId = d['artistId'];
  f.trackId = typeof trackId === 'string' ? trackId : undefined;
  f.artistId = typeof artistId === 'string' ? artistId : undefined;
  const played = kind === EventKind.skipped ? d['positionMs'] : d['playedMs'];
  const duration = d['durationMs'];
  f.playedMs = typeof played === 'number' && played > 0 ? played : 0;
  f.durationMs = typeof duration === 'number' && duration > 0 ? duration : 0;
  f.platform =
    kind === EventKind.appOpened ? PLATFORMS.indexOf(d['platform'] as (typeof PLATFORMS)[number]) + 1 : 0;
  f.network = undefined;
}

/** A 30-bit FNV-1a hash of a string (top-artist keys: numbers compare without touching the strings). */
function hash30(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

// The float64 record of a user.
const F = {
  plays: 0,
  completes: 1,
  partials: 2,
  shortPlays: 3,
  skipEvents: 4,
  likes: 5,
  playlistAdds: 6,
  appOpens: 7,
  notificationOpens: 8,
  listenedMs: 9,
  firstSeen: 10,
  lastSeen: 11,
  dayBits: 12,
  dayHead: 13,
  checkedAt: 14,
  lateForSessions: 15,
  hi: 16,
  lo: 17,
  platform: 18,
  topCount: 19,
  touched: 20,
} as const;
const SESSIONS_AT = 21;
const INITIAL = 256;

export interface UserCounts {
  plays: number;
  completes: number;
  partials: number;
  shortPlays: number;
  skips: number;
  likes: number;
  playlistAdds: number;
  appOpens: number;
  notificationOpens: number;
  listenedMs: number;
}

export interface UserTableSnapshot {
  stride: number;
  topCapacity: number;
  capacity: number;
  f: Float64Array;
  top: Int32Array;
  /** Columns of optional strings (a dictionary and an index per slot: no string per slot to walk). */
  topIds: StringColumn;
  pseudonyms: StringColumn;
  networks: StringColumn;
  free: Uint32Array;
  hand: number;
  size: number;
}

export class UserTable {
  readonly #rules: SessionRules;
  readonly #topCapacity: number;
  readonly #stride: number;
  #capacity = 0;
  #f = new Float64Array(0);
  /** Top artists per slot: [key, count] × topCapacity. */
  #top = new Int32Array(0);
  /** The artist ids of those counters. */
  #topIds: Array<string | undefined> = [];
  #pseudonyms: Array<string | undefined> = [];
  #networks: Array<string | undefined> = [];
  #free: number[] = [];
  #hand = 0;
  #size = 0;

  constructor(rules: SessionRules, topCapacity: number) {
    this.#rules = rules;
    this.#topCapacity = topCapacity;
    this.#stride = SESSIONS_AT + sessionSlots(rules.maxOpen);
  }

  get size(): number {
    return this.#size;
  }

  /** A record for a new user; grows the slabs (doubling) when full. */
  alloc(pseudonym: string, hi: number, lo: number, now: number): number {
    if (this.#free.length === 0) this.#grow(Math.max(INITIAL, this.#capacity * 2));
    const slot = this.#free.pop()!;
    const at = slot * this.#stride;
    const f = this.#f;
    f.fill(0, at, at + this.#stride);
    f[at + F.firstSeen] = Infinity;
    f[at + F.lastSeen] = -Infinity;
    f[at + F.dayHead] = -Infinity;
    f[at + F.checkedAt] = now;
    f[at + F.hi] = hi;
    f[at + F.lo] = lo;
    clearSessions(f, at + SESSIONS_AT, this.#rules.maxOpen);
    f[at + F.touched] = 1;
    this.#pseudonyms[slot] = pseudonym;
    this.#size++;
    return slot;
  }

  free(slot: number): void {
    if (this.#pseudonyms[slot] === undefined) return;
    this.#pseudonyms[slot] = undefined;
    this.#networks[slot] = undefined;
    this.#topIds.fill(undefined, slot * this.#topCapacity, (slot + 1) * this.#topCapacity);
    this.#free.push(slot);
    this.#size--;
  }

  /** CLOCK: a live slot not touched since the hand last passed it (the hand clears bits on its way). */
  victim(): number {
    for (;;) {
      this.#hand = (this.#hand + 1) % this.#capacity;
      const slot = this.#hand;
      if (this.#pseudonyms[slot] === undefined) continue;
      const at = slot * this.#stride + F.touched;
      if (this.#f[at] === 0) return slot;
      this.#f[at] = 0;
    }
  }

  rekey(slot: number, pseudonym: string, hi: number, lo: number): void {
    this.#pseudonyms[slot] = pseudonym;
    this.#f[slot * this.#stride + F.hi] = hi;
    this.#f[slot * this.#stride + F.lo] = lo;
  }

  /** Folds one event in. Order-independent up to the session grace (see sessions.ts); false when late for sessions. */
  fold(slot: number, x: Fact): boolean {
    const f = this.#f;
    const at = slot * this.#stride;
    f[at + F.touched] = 1;
    const t = x.t;
    if (t > f[at + F.lastSeen]!) {
      f[at + F.lastSeen] = t;
      if (x.network !== undefined) this.#networks[slot] = x.network;
    }
    if (t < f[at + F.firstSeen]!) f[at + F.firstSeen] = t;
    this.#markDay(at, Math.floor(t / DAY_MS));
    const onTime = addToSessions(f, at + SESSIONS_AT, t, this.#rules);
    if (!onTime) f[at + F.lateForSessions]!++;
    switch (x.kind) {
      case EventKind.played: {
        f[at + F.plays]!++;
        f[at + F.listenedMs]! += x.playedMs;
        const outcome = classifyPlay(x.playedMs, x.durationMs);
        f[at + (outcome === 'complete' ? F.completes : outcome === 'partial' ? F.partials : F.shortPlays)]!++;
        if (x.artistId !== undefined) this.#countArtist(slot, at, x.artistId);
        break;
      }
      case EventKind.skipped:
        f[at + F.skipEvents]!++;
        break;
      case EventKind.liked:
        f[at + F.likes]!++;
        break;
      case EventKind.added:
        f[at + F.playlistAdds]!++;
        break;
      case EventKind.appOpened:
        f[at + F.appOpens]!++;
        if (x.platform > 0) f[at + F.platform] = x.platform;
        break;
      case EventKind.notificationOpened:
        f[at + F.notificationOpens]!++;
        break;
    }
    return onTime;
  }

  #markDay(at: number, day: number): void {
    const f = this.#f;
    const ahead = day - f[at + F.dayHead]!;
    if (ahead > 0) {
      f[at + F.dayBits] = ahead >= DAY_BITS ? 1 : ((f[at + F.dayBits]! << ahead) | 1) >>> 0;
      f[at + F.dayHead] = day;
    } else if (-ahead < DAY_BITS) f[at + F.dayBits] = (f[at + F.dayBits]! | (1 << -ahead)) >>> 0;
  }

  /** Space-Saving over `topCapacity` counters, keyed by hash (the id string is read only on a key match). */
  #countArtist(slot: number, at: number, id: string): void {
    const top = this.#top;
    const cap = this.#topCapacity;
    const base = slot * cap * 2;
    const n = this.#f[at + F.topCount]!;
    const key = hash30(id);
    for (let i = 0; i < n; i++) {
      if (top[base + 2 * i] === key && this.#topIds[slot * cap + i] === id) {
        top[base + 2 * i + 1]!++;
        return;
      }
    }
    let i = n;
    let count = 1;
    if (n < cap) this.#f[at + F.topCount] = n + 1;
    else {
      // Full: the newcomer takes over the smallest counter.
      i = 0;
      for (let j = 1; j < cap; j++) if (top[base + 2 * j + 1]! < top[base + 2 * i + 1]!) i = j;
      count = top[base + 2 * i + 1]! + 1;
    }
    top[base + 2 * i] = key;
    top[base + 2 * i + 1] = count;
    this.#topIds[slot * cap + i] = id;
  }

  // ---- reads ---------------------------------------------------------------------------

  /** Live slots. */
  *slots(): IterableIterator<number> {
    for (let slot = 0; slot < this.#capacity; slot++) if (this.#pseudonyms[slot] !== undefined) yield slot;
  }

  pseudonym(slot: number): string {
    return this.#pseudonyms[slot]!;
  }

  hi(slot: number): number {
    return this.#f[slot * this.#stride + F.hi]!;
  }

  lo(slot: number): number {
    return this.#f[slot * this.#stride + F.lo]!;
  }

  firstSeen(slot: number): number {
    return this.#f[slot * this.#stride + F.firstSeen]!;
  }

  lastSeen(slot: number): number {
    return this.#f[slot * this.#stride + F.lastSeen]!;
  }

  checkedAt(slot: number): number {
    return this.#f[slot * this.#stride + F.checkedAt]!;
  }

  setCheckedAt(slot: number, now: number): void {
    this.#f[slot * this.#stride + F.checkedAt] = now;
  }

  counts(slot: number): UserCounts {
    const f = this.#f;
    const at = slot * this.#stride;
    return {
      plays: f[at + F.plays]!,
      completes: f[at + F.completes]!,
      partials: f[at + F.partials]!,
      shortPlays: f[at + F.shortPlays]!,
      skips: f[at + F.skipEvents]!,
      likes: f[at + F.likes]!,
      playlistAdds: f[at + F.playlistAdds]!,
      appOpens: f[at + F.appOpens]!,
      notificationOpens: f[at + F.notificationOpens]!,
      listenedMs: f[at + F.listenedMs]!,
    };
  }

  sessions(slot: number): { count: number; avgDurationMs: number } {
    return sessionSummary(this.#f, slot * this.#stride + SESSIONS_AT);
  }

  openSessions(slot: number): Array<[number, number]> {
    return openSessions(this.#f, slot * this.#stride + SESSIONS_AT);
  }

  /** Days with an event among the `days` (≤ 32) days ending with `nowDay`. */
  activeDays(slot: number, nowDay: number, days: number): number {
    const at = slot * this.#stride;
    const offset = nowDay - this.#f[at + F.dayHead]!; // bit i is day nowDay − offset − i
    const bitsAll = this.#f[at + F.dayBits]!;
    if (offset >= days || bitsAll === 0) return 0;
    const keep = days - Math.max(0, offset);
    const mask = keep >= DAY_BITS ? 0xffffffff : (1 << keep) - 1;
    let bits = (bitsAll & mask) >>> 0;
    let n = 0;
    while (bits !== 0) {
      bits &= bits - 1;
      n++;
    }
    return n;
  }

  /** The `k` most played artists (ties by id). */
  topArtists(slot: number, k = this.#topCapacity): Array<{ id: string; plays: number }> {
    const out: Array<{ id: string; plays: number }> = [];
    const cap = this.#topCapacity;
    const n = this.#f[slot * this.#stride + F.topCount]!;
    for (let i = 0; i < n; i++)
      out.push({ id: this.#topIds[slot * cap + i]!, plays: this.#top[slot * cap * 2 + 2 * i + 1]! });
    return out.sort((a, b) => b.plays - a.plays || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, k);
  }

  network(slot: number): string | undefined {
    return this.#networks[slot];
  }

  platform(slot: number): string | undefined {
    return PLATFORMS[this.#f[slot * this.#stride + F.platform]! - 1];
  }

  lateForSessions(slot: number): number {
    return this.#f[slot * this.#stride + F.lateForSessions]!;
  }

  /** Everything held for one slot, as plain data (audits and tests: no user id in it). */
  record(slot: number): Record<string, unknown> {
    const at = slot * this.#stride;
    return {
      pseudonym: this.#pseudonyms[slot],
      values: Array.from(this.#f.subarray(at, at + this.#stride)),
      topArtists: this.topArtists(slot),
      network: this.#networks[slot] ?? null,
    };
  }

  approxBytes(): number {
    return this.#capacity * (this.#stride * 8 + this.#topCapacity * (8 + 8) + 8 * 3) + this.#size * 60;
  }

  /**
   * The slabs as they are (stream snapshots; serialize before the next fold), the string
   * arrays as dictionary columns (artist ids and networks repeat across users).
   */
  snapshot(): UserTableSnapshot {
    return {
      stride: this.#stride,
      topCapacity: this.#topCapacity,
      capacity: this.#capacity,
      f: this.#f,
      top: this.#top,
      topIds: packColumn(this.#topIds),
      pseudonyms: packColumn(this.#pseudonyms),
      networks: packColumn(this.#networks),
      free: new Uint32Array(this.#free),
      hand: this.#hand,
      size: this.#size,
    };
  }

  /** Checks a `snapshot()` against this table's layout; returns what puts it in place (nothing changes before). */
  prepareRestore(v: unknown): () => void {
    const fail = (what: string): never => {
      throw new TypeError(`analytics users snapshot: ${what}`);
    };
    const s = (typeof v === 'object' && v !== null ? v : fail('not an object')) as UserTableSnapshot;
    if (s.stride !== this.#stride || s.topCapacity !== this.#topCapacity)
      fail(`layout ${s.stride}/${s.topCapacity} differs from ${this.#stride}/${this.#topCapacity}`);
    const cap = s.capacity;
    if (!Number.isSafeInteger(cap) || cap < 0) fail('bad capacity');
    if (!(s.f instanceof Float64Array) || s.f.length !== cap * this.#stride) fail('bad record slab');
    if (!(s.top instanceof Int32Array) || s.top.length !== cap * this.#topCapacity * 2) fail('bad top slab');
    let topIds: Array<string | undefined> = [];
    let pseudonyms: Array<string | undefined> = [];
    let networks: Array<string | undefined> = [];
    try {
      topIds = unpackColumn(s.topIds, 'topIds', cap * this.#topCapacity);
      pseudonyms = unpackColumn(s.pseudonyms, 'pseudonyms', cap);
      networks = unpackColumn(s.networks, 'networks', cap);
    } catch (err) {
      fail((err as Error).message);
    }
    let live = 0;
    for (const p of pseudonyms) if (p !== undefined) live++;
    if (s.size !== live) fail('size does not match the live records');
    if (!(s.free instanceof Uint32Array) || s.free.length !== cap - live) fail('bad free list');
    const free: number[] = [];
    for (const slot of s.free) {
      if (slot >= cap || pseudonyms[slot] !== undefined) fail('bad free list');
      free.push(slot);
    }
    if (!Number.isSafeInteger(s.hand) || s.hand < 0 || (cap > 0 && s.hand >= cap)) fail('bad hand');
    return () => {
      this.#capacity = cap;
      this.#f = new Float64Array(s.f);
      this.#top = new Int32Array(s.top);
      this.#topIds = topIds;
      this.#pseudonyms = pseudonyms;
      this.#networks = networks;
      this.#free = free;
      this.#hand = s.hand;
      this.#size = s.size;
    };
  }

  #grow(capacity: number): void {
    const old = this.#capacity;
    const f = new Float64Array(capacity * this.#stride);
    f.set(this.#f);
    this.#f = f;
    const top = new Int32Array(capacity * this.#topCapacity * 2);
    top.set(this.#top);
    this.#top = top;
    for (let i = old * this.#topCapacity; i < capacity * this.#topCapacity; i++) this.#topIds.push(undefined);
    for (let i = old; i < capacity; i++) {
      this.#pseudonyms.push(undefined);
      this.#networks.push(undefined);
    }
    for (let s = capacity - 1; s >= old; s--) this.#free.push(s);
    this.#capacity = capacity;
  }
}
