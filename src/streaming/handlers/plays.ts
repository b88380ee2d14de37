import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import type { StreamEvent } from '../events/index.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { EventHandler, HandlerContext } from '../processor.ts';
import { arr, bad, finite, header, int, obj, str, typed } from '../snapshots/check.ts';

/** How a play ended: listened to (nearly) the end, part of it, or skipped early. */
export type PlayOutcome = 'complete' | 'partial' | 'skip';

export interface TrackStats {
  plays: number;
  completes: number;
  partials: number;
  skips: number;
  likes: number;
  playlistAdds: number;
  /** Total listened time, ms. */
  listenedMs: number;
  lastPlayedAt: number;
}

export interface HistoryEntry {
  trackId: string;
  artistId: string;
  ts: number;
  outcome: PlayOutcome;
  playedMs: number;
}

export interface UserListening {
  plays: number;
  skips: number;
  likes: number;
  /** Newest last, at most `historySize`. */
  history: HistoryEntry[];
  sessions: number;
  /** The current (or last) listening session. */
  session: { start: number; last: number; plays: number; listenedMs: number } | undefined;
}

export interface PlaysOptions {
  /** A play of at least this fraction of the track is complete. @default 0.8 */
  completeRatio: number;
  /** A play shorter than this (ms), or under `skipRatio`, counts as a skip. @default 30_000 */
  skipMs: number;
  /** @default 0.25 */
  skipRatio: number;
  /** Plays kept per user. @default 50 */
  historySize: number;
  /** Silence that ends a listening session, ms. @default 30 min */
  sessionGapMs: number;
  /** Tracks, artists and users tracked at most each; the least recently active go first. @default 1_000_000 */
  maxEntities: number;
}

export const DEFAULT_PLAYS_OPTIONS: PlaysOptions = {
  completeRatio: 0.8,
  skipMs: 30_000,
  skipRatio: 0.25,
  historySize: 50,
  sessionGapMs: 30 * 60_000,
  maxEntities: 1_000_000,
};

/** Completion vs skip from `playedMs/durationMs` (SPEC §5 track.played). */
export function classifyPlay(
  playedMs: number,
  durationMs: number,
  o: Pick<PlaysOptions, 'completeRatio' | 'skipMs' | 'skipRatio'> = DEFAULT_PLAYS_OPTIONS,
): PlayOutcome {
  const ratio = durationMs > 0 ? Math.min(1, playedMs / durationMs) : 1;
  if (ratio >= o.completeRatio) return 'complete';
  if (ratio < o.skipRatio || playedMs < Math.min(o.skipMs, durationMs * o.completeRatio)) return 'skip';
  return 'partial';
}

/** Stats of a track or artist nobody has played yet. */
export const emptyTrack = (): TrackStats => ({
  plays: 0,
  completes: 0,
  partials: 0,
  skips: 0,
  likes: 0,
  playlistAdds: 0,
  listenedMs: 0,
  lastPlayedAt: 0,
});

/**
 * The entry for `key`, created when missing; the cache evicts the least recently touched
 * past its bound in O(1) (lru-cache: a Map evicting `keys().next()` slows to O(size) per
 * insert in V8 once full).
 */
function touch<V extends object>(cache: LRUCache<string, V>, key: string, make: () => V): V {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    cache.set(key, v);
  }
  return v;
}

/**
 * Music plays: play counts per track and artist, completion vs skip, per-user bounded
 * listening history and listening sessions (a gap of `sessionGapMs` starts a new one).
 * State is in memory and rebuilt from the log on start (replayed events count the same).
 */
export class PlaysHandler implements EventHandler {
  readonly name = 'plays';
  readonly types: ReadonlySet<string> = new Set([
    'track.played',
    'track.skipped',
    'track.liked',
    'playlist.track_added',
  ]);
  readonly #o: PlaysOptions;
  readonly #metrics: StreamingMetrics | undefined;
  #tracks: LRUCache<string, TrackStats>;
  #artists: LRUCache<string, TrackStats>;
  #users: LRUCache<string, UserListening>;

  constructor(opts: Partial<PlaysOptions> = {}, metrics?: StreamingMetrics) {
    this.#o = { ...DEFAULT_PLAYS_OPTIONS, ...opts };
    this.#metrics = metrics;
    const max = Math.max(1, this.#o.maxEntities);
    this.#tracks = boundedCache(max);
    this.#artists = boundedCache(max);
    this.#users = boundedCache(max);
  }

  handle(e: StreamEvent, ctx: HandlerContext): void {
    const d = e.data;
    const user = touch(this.#users, e.userId, () => ({
      plays: 0,
      skips: 0,
      likes: 0,
      history: [],
      sessions: 0,
      session: undefined,
    }));
    if (e.type === 'track.liked' || e.type === 'playlist.track_added') {
      const t = touch(this.#tracks, d['trackId'] as string, emptyTrack);
      if (e.type === 'track.liked') {
        t.likes++;
        user.likes++;
        touch(this.#artists, d['artistId'] as string, emptyTrack).likes++;
      } else t.playlistAdds++;
      return;
    }
    const trackId = d['trackId'] as string;
    const artistId = d['artistId'] as string;
    const outcome: PlayOutcome =
      e.type === 'track.skipped'
        ? 'skip'
        : classifyPlay(d['playedMs'] as number, d['durationMs'] as number, this.#o);
    const playedMs = e.type === 'track.skipped' ? (d['positionMs'] as number) : (d['playedMs'] as number);
    for (const s of [touch(this.#tracks, trackId, emptyTrack), touch(this.#artists, artistId, emptyTrack)]) {
      // An explicit skip event is a skip, not a play; a short play is both.
      if (e.type === 'track.played') s.plays++;
      if (outcome === 'complete') s.completes++;
      else if (outcome === 'partial') s.partials++;
      else s.skips++;
      s.listenedMs += playedMs;
      s.lastPlayedAt = Math.max(s.lastPlayedAt, e.ts);
    }
    if (e.type === 'track.played') user.plays++;
    if (outcome === 'skip') user.skips++;
    user.history.push({ trackId, artistId, ts: e.ts, outcome, playedMs });
    if (user.history.length > this.#o.historySize)
      user.history.splice(0, user.history.length - this.#o.historySize);
    const s = user.session;
    if (!s || e.ts - s.last > this.#o.sessionGapMs) {
      user.sessions++;
      user.session = { start: e.ts, last: e.ts, plays: 1, listenedMs: playedMs };
    } else {
      s.last = Math.max(s.last, e.ts);
      s.plays++;
      s.listenedMs += playedMs;
    }
    if (!ctx.replay) this.#metrics?.plays.labels(outcome).inc();
  }

  track(trackId: string): TrackStats | undefined {
    return this.#tracks.get(trackId);
  }

  artist(artistId: string): TrackStats | undefined {
    return this.#artists.get(artistId);
  }

  user(userId: string): UserListening | undefined {
    return this.#users.get(userId);
  }

  /** GDPR erasure: the user's history, counts and sessions go; track and artist totals (no user id in them) stay. */
  forget(userId: string): void {
    this.#users.delete(userId);
  }

  get sizes(): { tracks: number; artists: number; users: number } {
    return { tracks: this.#tracks.size, artists: this.#artists.size, users: this.#users.size };
  }

  /**
   * The state as plain data, least recently used first (so a restore keeps the eviction
   * order): track and artist stats as ids + one Float64Array of 8 numbers each, users as
   * objects.
   */
  snapshot(): PlaysSnapshot {
    return {
      kind: 'plays',
      version: 1,
      tracks: packStats(this.#tracks),
      artists: packStats(this.#artists),
      users: [...this.#users.rentries()] as Array<[string, UserListening]>,
    };
  }

  /** Replaces the state with a `snapshot()`; everything is checked before anything changes. */
  restore(state: unknown): void {
    const s = header(state, 'plays', 1);
    const max = Math.max(1, this.#o.maxEntities);
    const tracks = unpackStats(s['tracks'], 'plays.tracks', max);
    const artists = unpackStats(s['artists'], 'plays.artists', max);
    const users = boundedCache<string, UserListening>(max);
    arr(s['users'], 'plays.users').forEach((entry, i) => {
      const path = `plays.users[${i}]`;
      const [id, u] = arr(entry, path) as [unknown, unknown];
      users.set(str(id, `${path}[0]`), checkUser(u, path, this.#o.historySize));
    });
    this.#tracks = tracks;
    this.#artists = artists;
    this.#users = users;
  }
}

export interface PlaysSnapshot {
  kind: 'plays';
  version: 1;
  tracks: PackedStats;
  artists: PackedStats;
  users: Array<[string, UserListening]>;
}

/** Stats of many tracks (or artists): ids, and their 8 numbers each in STAT_FIELDS order. */
interface PackedStats {
  ids: string[];
  values: Float64Array;
}

const STAT_FIELDS = [
  'plays',
  'completes',
  'partials',
  'skips',
  'likes',
  'playlistAdds',
  'listenedMs',
  'lastPlayedAt',
] as const satisfies ReadonlyArray<keyof TrackStats>;

function packStats(cache: LRUCache<string, TrackStats>): PackedStats {
  const ids: string[] = [];
  const values = new Float64Array(cache.size * STAT_FIELDS.length);
  let at = 0;
  for (const [id, t] of cache.rentries() as Generator<[string, TrackStats]>) {
    ids.push(id);
    for (const f of STAT_FIELDS) values[at++] = t[f];
  }
  return { ids, values };
}

function unpackStats(v: unknown, path: string, max: number): LRUCache<string, TrackStats> {
  const o = obj(v, path);
  const ids = arr(o['ids'], `${path}.ids`);
  const values = typed(o['values'], Float64Array, `${path}.values`, ids.length * STAT_FIELDS.length);
  const cache = boundedCache<string, TrackStats>(max);
  ids.forEach((id, i) => {
    const t = emptyTrack();
    STAT_FIELDS.forEach((f, j) => (t[f] = finite(values[i * STAT_FIELDS.length + j], `${path}.values`)));
    cache.set(str(id, `${path}.ids[${i}]`), t);
  });
  return cache;
}

function checkUser(v: unknown, path: string, historySize: number): UserListening {
  const u = obj(v, path);
  const history = arr(u['history'], `${path}.history`, historySize).map((h, i) => {
    const e = obj(h, `${path}.history[${i}]`);
    const outcome = e['outcome'];
    if (outcome !== 'complete' && outcome !== 'partial' && outcome !== 'skip')
      bad(`${path}.history[${i}].outcome`, 'expected complete|partial|skip');
    return {
      trackId: str(e['trackId'], `${path}.history[${i}].trackId`),
      artistId: str(e['artistId'], `${path}.history[${i}].artistId`),
      ts: finite(e['ts'], `${path}.history[${i}].ts`),
      outcome,
      playedMs: finite(e['playedMs'], `${path}.history[${i}].playedMs`),
    } satisfies HistoryEntry;
  });
  let session: UserListening['session'];
  if (u['session'] !== undefined && u['session'] !== null) {
    const x = obj(u['session'], `${path}.session`);
    session = {
      start: finite(x['start'], `${path}.session.start`),
      last: finite(x['last'], `${path}.session.last`),
      plays: int(x['plays'], `${path}.session.plays`, 0),
      listenedMs: finite(x['listenedMs'], `${path}.session.listenedMs`),
    };
  }
  return {
    plays: int(u['plays'], `${path}.plays`, 0),
    skips: int(u['skips'], `${path}.skips`, 0),
    likes: int(u['likes'], `${path}.likes`, 0),
    history,
    sessions: int(u['sessions'], `${path}.sessions`, 0),
    session,
  };
}
