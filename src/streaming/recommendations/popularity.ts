import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import { DAY_MS, EMPTY, logAdd, toLog, valueAt } from './decay.ts';
import { bad, obj, typed } from '../snapshots/check.ts';
import { type PackedStrings, packStrings, unpackStrings } from '../snapshots/columns.ts';
import { positiveInt, positiveNumber, UserHistories } from './history.ts';
import {
  asArray,
  asFinite,
  asObject,
  asPair,
  asString,
  expectHeader,
  expectSame,
  fail,
} from './snapshot-check.ts';
import {
  checkInteraction,
  type Interaction,
  type Recommendation,
  type Recommender,
  type UserInteraction,
} from './types.ts';

/** Order of a ranking: higher score first, ties by trackId ascending (deterministic). */
export function byScoreThenId(
  a: { trackId: string; score: number },
  b: { trackId: string; score: number },
): number {
  return b.score - a.score || (a.trackId < b.trackId ? -1 : a.trackId > b.trackId ? 1 : 0);
}

/** Whether (a, sa) ranks before (b, sb): higher score, then smaller id. */
function beats(a: string, sa: number, b: string, sb: number): boolean {
  return sa > sb || (sa === sb && a < b);
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0)
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
}

/**
 * Time-decayed global counts with an always-ready top list.
 *
 * Counts live in log space (see decay.ts), so their order never changes with time and an
 * increment can only move a track UP: the top-`topSize` list is kept exact incrementally
 * (an outside track enters only by passing the list's last entry; O(topSize) worst case per
 * update, O(1) typical). At most `maxItems` tracks are counted; a new track beyond that
 * evicts the least recently counted one (O(1), lru-cache). If the evicted track
 * was in the top list, the list is rebuilt (O(n log n)) at the next read — rare, since
 * top tracks are counted often.
 */
export class DecayedPopularity {
  readonly halfLifeMs: number;
  readonly maxItems: number;
  readonly topSize: number;
  #scores: LRUCache<string, number>;
  /** Ranked track ids, their scores, and each id's index (the top list, kept exact while #exact). */
  #top: string[] = [];
  #topScores: number[] = [];
  #at = new Map<string, number>();
  #exact = true;

  constructor(halfLifeMs: number, maxItems: number, topSize: number) {
    positiveNumber(halfLifeMs, 'halfLifeMs');
    positiveInt(maxItems, 'maxItems');
    positiveInt(topSize, 'topSize');
    this.halfLifeMs = halfLifeMs;
    this.maxItems = maxItems;
    this.topSize = topSize;
    this.#scores = this.#cache();
  }

  #cache(): LRUCache<string, number> {
    return boundedCache<string, number>(this.maxItems, {
      noDisposeOnSet: true,
      // The evicted track was in the top list: rebuilt at the next read (rare: top tracks are counted often).
      dispose: (_v, trackId, reason) => {
        if (reason === 'evict' && this.#at.has(trackId)) this.#exact = false;
      },
    });
  }

  get size(): number {
    return this.#scores.size;
  }

  add(trackId: string, weight: number, ts: number): void {
    const prev = this.#scores.get(trackId);
    const s = logAdd(prev ?? EMPTY, toLog(weight, ts, this.halfLifeMs));
    this.#scores.set(trackId, s); // most recently counted; a new track past maxItems evicts the least recently counted
    if (this.#exact) this.#place(trackId, s);
  }

  /** Stored log score (order-preserving), or undefined for an untracked track. */
  logScore(trackId: string): number | undefined {
    return this.#scores.peek(trackId);
  }

  /** Decayed count at `now` (0 for an untracked track). */
  scoreAt(trackId: string, now: number): number {
    const s = this.#scores.peek(trackId);
    return s === undefined ? 0 : valueAt(s, now, this.halfLifeMs);
  }

  /** The most counted tracks, best first, ties by trackId. */
  top(): readonly string[] {
    if (!this.#exact) this.#rebuild();
    return this.#top;
  }

  /** Moves `trackId` (whose score just rose to `s`) up the list, or lets it in past the last entry. */
  #place(trackId: string, s: number): void {
    const top = this.#top;
    const sc = this.#topScores;
    let i = this.#at.get(trackId);
    if (i === undefined) {
      const n = top.length;
      if (n >= this.topSize && !beats(trackId, s, top[n - 1] as string, sc[n - 1] as number)) return;
      top.push(trackId);
      sc.push(s);
      i = n;
    }
    while (i > 0 && beats(trackId, s, top[i - 1] as string, sc[i - 1] as number)) {
      const prev = top[i - 1] as string;
      top[i] = prev;
      sc[i] = sc[i - 1] as number;
      this.#at.set(prev, i);
      i--;
    }
    top[i] = trackId;
    sc[i] = s;
    this.#at.set(trackId, i);
    if (top.length > this.topSize) {
      this.#at.delete(top.pop() as string);
      sc.pop();
    }
  }

  #rebuild(): void {
    const all: { trackId: string; score: number }[] = [];
    for (const [trackId, score] of this.#scores.entries()) all.push({ trackId, score });
    all.sort(byScoreThenId);
    const top = all.slice(0, this.topSize);
    this.#top = top.map((e) => e.trackId);
    this.#topScores = top.map((e) => e.score);
    this.#at = new Map(this.#top.map((t, i) => [t, i]));
    this.#exact = true;
  }

  /** `[[trackId, log2 score], …least recently counted first]`. */
  snapshot(): [string, number][] {
    return [...(this.#scores.rentries() as Iterable<[string, number]>)];
  }

  parse(raw: unknown, path: string): Map<string, number> {
    const scores = new Map<string, number>();
    asArray(raw, path, this.maxItems).forEach((e, i) => {
      const [k, v] = asPair(e, `${path}[${i}]`);
      const id = asString(k, `${path}[${i}][0]`);
      if (scores.has(id)) fail(`${path}[${i}]`, `repeats track ${JSON.stringify(id)}`);
      scores.set(id, asFinite(v, `${path}[${i}][1]`));
    });
    return scores;
  }

  /** The counts as columns: track ids and log2 scores, least recently counted first (item-knn snapshots). */
  snapshotColumns(): { tracks: PackedStrings; scores: Float64Array } {
    const ids: string[] = [];
    const scores = new Float64Array(this.#scores.size);
    for (const [k, v] of this.#scores.rentries() as Iterable<[string, number]>) {
      scores[ids.length] = v;
      ids.push(k);
    }
    return { tracks: packStrings(ids), scores };
  }

  /** Checks a `snapshotColumns()` (throws InvalidHandlerSnapshotError naming `path`); `replace` installs it. */
  parseColumns(raw: unknown, path: string): Map<string, number> {
    const o = obj(raw, path);
    const ids = unpackStrings(o['tracks'], `${path}.tracks`, this.maxItems);
    const scores = typed(o['scores'], Float64Array, `${path}.scores`, ids.length);
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === '') bad(`${path}.tracks[${i}]`, 'is empty');
      if (out.has(id)) bad(`${path}.tracks[${i}]`, `repeats track ${JSON.stringify(id)}`);
      if (!Number.isFinite(scores[i]!)) bad(`${path}.scores[${i}]`, 'must be a finite number');
      out.set(id, scores[i]!);
    }
    return out;
  }

  /** Installs the result of `parse` (its order: least recently counted first). */
  replace(scores: Map<string, number>): void {
    const c = this.#cache();
    for (const [k, v] of scores) c.set(k, v);
    this.#scores = c;
    this.#rebuild();
  }
}

export interface PopularityOptions {
  /** Half-life of a play's weight. Default 7 days (the same as item-knn's). */
  halfLifeMs?: number;
  /** Recent interactions remembered per user, for exclusion. Default 100. */
  historySize?: number;
  /** Users remembered; the least recently active is forgotten first. Default 100,000. */
  maxUsers?: number;
  /** Tracks counted; the least recently played is forgotten first. Default 50,000. */
  maxItems?: number;
  /** Length of the ranked list kept ready; a user who heard all of it gets fewer results. Default 500. */
  topSize?: number;
}

export const POPULARITY_DEFAULTS: Required<PopularityOptions> = {
  halfLifeMs: 7 * DAY_MS,
  historySize: 100,
  maxUsers: 100_000,
  maxItems: 50_000,
  topSize: 500,
};

/**
 * The baseline: time-decayed global play counts (every play counts 1, halving every
 * half-life), minus what the user played or skipped recently. Reason "popular now".
 */
export class PopularityRecommender implements Recommender {
  readonly name = 'popularity';
  readonly options: Required<PopularityOptions>;
  readonly #pop: DecayedPopularity;
  readonly #history: UserHistories;

  constructor(options: PopularityOptions = {}) {
    this.options = { ...POPULARITY_DEFAULTS, ...options };
    const o = this.options;
    this.#pop = new DecayedPopularity(o.halfLifeMs, o.maxItems, o.topSize);
    this.#history = new UserHistories(o.historySize, o.maxUsers);
  }

  observe(i: Interaction): void {
    checkInteraction(i);
    this.#history.touch(i.userId).push({ trackId: i.trackId, kind: i.kind, weight: 0, ts: i.ts });
    if (i.kind === 'play') this.#pop.add(i.trackId, 1, i.ts);
  }

  recommend(userId: string, limit: number, now: number): Recommendation[] {
    checkLimit(limit);
    const heard = this.#history.heard(userId);
    const out: Recommendation[] = [];
    for (const trackId of this.#pop.top()) {
      if (out.length >= limit) break;
      if (!heard.has(trackId))
        out.push({ trackId, score: this.#pop.scoreAt(trackId, now), reason: 'popular now' });
    }
    return out;
  }

  forget(userId: string): boolean {
    return this.#history.forget(userId);
  }

  userState(userId: string): UserInteraction[] {
    return this.#history.entries(userId);
  }

  /** Counts of what is held, for bound checks and metrics. */
  stats(): { items: number; users: number; maxHistory: number } {
    return { items: this.#pop.size, users: this.#history.size, maxHistory: this.#history.maxRingSize() };
  }

  snapshot(): unknown {
    return {
      kind: this.name,
      version: 1,
      halfLifeMs: this.options.halfLifeMs,
      plays: this.#pop.snapshot(),
      users: this.#history.snapshot(),
    };
  }

  restore(state: unknown): void {
    const s = asObject(state, 'snapshot');
    expectHeader(s, this.name, 1);
    expectSame(s, 'halfLifeMs', this.options.halfLifeMs);
    const plays = this.#pop.parse(s['plays'], 'plays');
    const users = this.#history.parse(s['users'], 'users');
    this.#pop.replace(plays);
    this.#history.replace(users);
  }
}
