import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import type { StreamEvent } from '../events/index.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { EventHandler, HandlerContext } from '../processor.ts';
import { bad, header, obj, typed } from '../snapshots/check.ts';
import {
  checkFinite,
  checkIndices,
  type PackedStrings,
  packStrings,
  StringDictionary,
  unpackStrings,
} from '../snapshots/columns.ts';
import { checkpoint, runSteps, type Steps } from '../snapshots/steps.ts';

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

function countPlay(s: TrackStats, e: StreamEvent, outcome: PlayOutcome, playedMs: number): void {
  if (e.type === 'track.played') s.plays++;
  if (outcome === 'complete') s.completes++;
  else if (outcome === 'partial') s.partials++;
  else s.skips++;
  s.listenedMs += playedMs;
  s.lastPlayedAt = Math.max(s.lastPlayedAt, e.ts);
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
  /**
   * One string object per track/artist id for the histories: entries share their ids (less
   * memory), and a snapshot's dictionary of them compares pointers, not characters.
   * Bounded: cleared wholesale when full (sharing resumes with the next ids).
   */
  #ids = new Map<string, string>();
  readonly #playCounters = new Map<PlayOutcome, { inc(): void }>();

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
    const trackId = this.#intern(d['trackId'] as string);
    const artistId = this.#intern(d['artistId'] as string);
    const outcome: PlayOutcome =
      e.type === 'track.skipped'
        ? 'skip'
        : classifyPlay(d['playedMs'] as number, d['durationMs'] as number, this.#o);
    const playedMs = e.type === 'track.skipped' ? (d['positionMs'] as number) : (d['playedMs'] as number);
    // An explicit skip event is a skip, not a play; a short play is both.
    countPlay(touch(this.#tracks, trackId, emptyTrack), e, outcome, playedMs);
    countPlay(touch(this.#artists, artistId, emptyTrack), e, outcome, playedMs);
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
    if (!ctx.replay && this.#metrics) {
      // The labelled children are looked up once per outcome, not per event.
      let c = this.#playCounters.get(outcome);
      if (!c) this.#playCounters.set(outcome, (c = this.#metrics.plays.labels(outcome)));
      c.inc();
    }
  }

  #intern(id: string): string {
    const known = this.#ids.get(id);
    if (known !== undefined) return known;
    if (this.#ids.size >= Math.max(1, this.#o.maxEntities) * 2) this.#ids.clear();
    this.#ids.set(id, id);
    return id;
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
    const u = this.#users.peek(userId);
    if (u) eraseUnread(u);
    this.#users.delete(userId);
  }

  get sizes(): { tracks: number; artists: number; users: number } {
    return { tracks: this.#tracks.size, artists: this.#artists.size, users: this.#users.size };
  }

  /**
   * The state as flat columns, least recently used first (so a restore keeps the eviction
   * order): track and artist stats as packed ids + one Float64Array of 8 numbers each;
   * users as packed ids + one Float64Array of their counters and session, and their
   * histories concatenated into typed columns (track and artist ids interned in one
   * dictionary). No object per user or per play: v8.serialize copies the columns.
   */
  snapshot(): PlaysSnapshot {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): the processor lets the event loop turn between them. */
  *snapshotSteps(): Steps<PlaysSnapshot> {
    return {
      kind: 'plays',
      version: 2,
      tracks: yield* packStats(this.#tracks),
      artists: yield* packStats(this.#artists),
      users: yield* packUsers(this.#users),
    };
  }

  /** Replaces the state with a `snapshot()`; everything is checked before anything changes. */
  restore(state: unknown): void {
    const s = header(state, 'plays', 2);
    const max = Math.max(1, this.#o.maxEntities);
    const tracks = unpackStats(s['tracks'], 'plays.tracks', max);
    const artists = unpackStats(s['artists'], 'plays.artists', max);
    const { users, dictionary } = unpackUsers(s['users'], 'plays.users', max, this.#o.historySize);
    this.#tracks = tracks;
    this.#artists = artists;
    this.#users = users;
    this.#ids = new Map(dictionary.map((id) => [id, id]));
  }
}

export interface PlaysSnapshot {
  kind: 'plays';
  version: 2;
  tracks: PackedStats;
  artists: PackedStats;
  users: PackedUsers;
}

/** Stats of many tracks (or artists): ids, and their 8 numbers each in STAT_FIELDS order. */
interface PackedStats {
  ids: PackedStrings;
  values: Float64Array;
}

/**
 * Users as columns: `values` holds USER_FIELDS per user; user i's history is entries
 * [sum(historyLength[0..i)), … + historyLength[i]) of the history columns, oldest first.
 */
interface PackedUsers {
  ids: PackedStrings;
  values: Float64Array;
  historyLength: Uint32Array;
  /** Track and artist ids of the histories, interned. */
  dictionary: PackedStrings;
  track: Uint32Array;
  artist: Uint32Array;
  ts: Float64Array;
  playedMs: Float64Array;
  /** Index in OUTCOMES. */
  outcome: Uint8Array;
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

/** plays, skips, likes, sessions, has a session (0|1), session start, last, plays, listenedMs. */
const USER_FIELDS = 9;
const OUTCOMES: readonly PlayOutcome[] = ['complete', 'partial', 'skip'];
const OUTCOME_INDEX: Readonly<Record<PlayOutcome, number>> = { complete: 0, partial: 1, skip: 2 };

/** A restore's history columns (see PackedUsers), shared by the users whose history was not read yet. */
interface HistoryColumns {
  dictionary: string[];
  track: Uint32Array;
  artist: Uint32Array;
  ts: Float64Array;
  playedMs: Float64Array;
  outcome: Uint8Array;
}

/** Restored users whose history is still only rows `[from, to)` of the restore's columns. */
const unread = new WeakMap<object, { c: HistoryColumns; from: number; to: number }>();

/**
 * A restored user's `history`, built on first read (an own enumerable accessor: spread
 * and structuredClone read it like a plain property): a restore installs 100k users
 * without building millions of entry objects, and a snapshot of a user never read copies
 * its rows. The entries built are the ones an eager restore would have built.
 */
function restoredUser(
  u: Omit<UserListening, 'history'>,
  c: HistoryColumns,
  from: number,
  to: number,
): UserListening {
  let history: HistoryEntry[] | undefined;
  const self: UserListening = {
    plays: u.plays,
    skips: u.skips,
    likes: u.likes,
    get history(): HistoryEntry[] {
      if (history === undefined) {
        unread.delete(self);
        history = [];
        for (let j = from; j < to; j++)
          history.push({
            trackId: c.dictionary[c.track[j]!]!,
            artistId: c.dictionary[c.artist[j]!]!,
            ts: c.ts[j]!,
            outcome: OUTCOMES[c.outcome[j]!]!,
            playedMs: c.playedMs[j]!,
          });
      }
      return history;
    },
    set history(h: HistoryEntry[]) {
      unread.delete(self);
      history = h;
    },
    sessions: u.sessions,
    session: u.session,
  };
  if (to > from) unread.set(self, { c, from, to });
  return self;
}

/** GDPR erasure of a user whose history was never read: its rows in the shared columns are zeroed. */
function eraseUnread(u: UserListening): void {
  const rows = unread.get(u);
  if (!rows) return;
  const { c, from, to } = rows;
  for (const col of [c.track, c.artist, c.ts, c.playedMs, c.outcome]) col.fill(0, from, to);
  unread.delete(u);
}

function* packStats(cache: LRUCache<string, TrackStats>): Steps<PackedStats> {
  const ids: string[] = [];
  const list: TrackStats[] = [];
  // The walk first (nothing yields inside the cache's iterator), then the columns in steps.
  for (const [id, t] of cache.rentries() as Generator<[string, TrackStats]>) {
    ids.push(id);
    list.push(t);
  }
  const values = new Float64Array(list.length * STAT_FIELDS.length);
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    for (const f of STAT_FIELDS) values[at++] = t[f];
    if (checkpoint(i)) yield;
  }
  return { ids: packStrings(ids), values };
}

function unpackStats(v: unknown, path: string, max: number): LRUCache<string, TrackStats> {
  const o = obj(v, path);
  const ids = unpackStrings(o['ids'], `${path}.ids`);
  const values = typed(o['values'], Float64Array, `${path}.values`, ids.length * STAT_FIELDS.length);
  checkFinite(values, `${path}.values`);
  const cache = boundedCache<string, TrackStats>(max);
  for (let i = 0, at = 0; i < ids.length; i++, at += STAT_FIELDS.length) {
    cache.set(ids[i]!, {
      plays: values[at]!,
      completes: values[at + 1]!,
      partials: values[at + 2]!,
      skips: values[at + 3]!,
      likes: values[at + 4]!,
      playlistAdds: values[at + 5]!,
      listenedMs: values[at + 6]!,
      lastPlayedAt: values[at + 7]!,
    });
  }
  return cache;
}

function* packUsers(cache: LRUCache<string, UserListening>): Steps<PackedUsers> {
  // One walk of the cache (least recently used first), then plain arrays.
  const ids: string[] = [];
  const list: UserListening[] = [];
  let h = 0;
  for (const [id, u] of cache.rentries() as Generator<[string, UserListening]>) {
    ids.push(id);
    list.push(u);
    const rows = unread.get(u);
    h += rows ? rows.to - rows.from : u.history.length;
  }
  // Dictionary indices of restored columns → this snapshot's (-1: not seen yet).
  const remaps = new Map<HistoryColumns, Int32Array>();
  const n = list.length;
  const values = new Float64Array(n * USER_FIELDS);
  const historyLength = new Uint32Array(n);
  const dict = new StringDictionary();
  const track = new Uint32Array(h);
  const artist = new Uint32Array(h);
  const ts = new Float64Array(h);
  const playedMs = new Float64Array(h);
  const outcome = new Uint8Array(h);
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (checkpoint(i)) yield;
    const u = list[i]!;
    const v = i * USER_FIELDS;
    values[v] = u.plays;
    values[v + 1] = u.skips;
    values[v + 2] = u.likes;
    values[v + 3] = u.sessions;
    if (u.session) {
      values[v + 4] = 1;
      values[v + 5] = u.session.start;
      values[v + 6] = u.session.last;
      values[v + 7] = u.session.plays;
      values[v + 8] = u.session.listenedMs;
    }
    const rows = unread.get(u);
    if (rows) {
      const { c, from, to } = rows;
      let m = remaps.get(c);
      if (!m) remaps.set(c, (m = new Int32Array(c.dictionary.length).fill(-1)));
      historyLength[i] = to - from;
      for (let j = from; j < to; j++, at++) {
        const t = c.track[j]!;
        const a = c.artist[j]!;
        track[at] = m[t]! >= 0 ? m[t]! : (m[t] = dict.id(c.dictionary[t]!));
        artist[at] = m[a]! >= 0 ? m[a]! : (m[a] = dict.id(c.dictionary[a]!));
        ts[at] = c.ts[j]!;
        playedMs[at] = c.playedMs[j]!;
        outcome[at] = c.outcome[j]!;
      }
      continue;
    }
    historyLength[i] = u.history.length;
    for (const e of u.history) {
      track[at] = dict.id(e.trackId);
      artist[at] = dict.id(e.artistId);
      ts[at] = e.ts;
      playedMs[at] = e.playedMs;
      outcome[at++] = OUTCOME_INDEX[e.outcome];
    }
  }
  return {
    ids: packStrings(ids),
    values,
    historyLength,
    dictionary: dict.pack(),
    track,
    artist,
    ts,
    playedMs,
    outcome,
  };
}

function unpackUsers(
  v: unknown,
  path: string,
  max: number,
  historySize: number,
): { users: LRUCache<string, UserListening>; dictionary: string[] } {
  const o = obj(v, path);
  const ids = unpackStrings(o['ids'], `${path}.ids`);
  const n = ids.length;
  const values = typed(o['values'], Float64Array, `${path}.values`, n * USER_FIELDS);
  checkFinite(values, `${path}.values`);
  const historyLength = typed(o['historyLength'], Uint32Array, `${path}.historyLength`, n);
  let h = 0;
  for (let i = 0; i < n; i++) {
    if (historyLength[i]! > historySize) bad(`${path}.historyLength[${i}]`, `more than ${historySize} items`);
    h += historyLength[i]!;
  }
  const dictionary = unpackStrings(o['dictionary'], `${path}.dictionary`);
  const track = typed(o['track'], Uint32Array, `${path}.track`, h);
  const artist = typed(o['artist'], Uint32Array, `${path}.artist`, h);
  const ts = typed(o['ts'], Float64Array, `${path}.ts`, h);
  const playedMs = typed(o['playedMs'], Float64Array, `${path}.playedMs`, h);
  const outcome = typed(o['outcome'], Uint8Array, `${path}.outcome`, h);
  checkIndices(track, dictionary.length, `${path}.track`);
  checkIndices(artist, dictionary.length, `${path}.artist`);
  checkFinite(ts, `${path}.ts`);
  checkFinite(playedMs, `${path}.playedMs`);
  for (let j = 0; j < h; j++)
    if (outcome[j]! >= OUTCOMES.length) bad(`${path}.outcome[${j}]`, 'expected 0|1|2');
  const count = (x: number, at: string): number =>
    Number.isSafeInteger(x) && x >= 0 ? x : bad(at, 'expected a non-negative integer');
  const users = boundedCache<string, UserListening>(max);
  const cols: HistoryColumns = { dictionary, track, artist, ts, playedMs, outcome };
  // Everything is checked before any user is installed (a bad count throws mid-way).
  const restored: Array<Omit<UserListening, 'history'>> = [];
  for (let i = 0; i < n; i++) {
    const b = i * USER_FIELDS;
    const hasSession = values[b + 4]!;
    if (hasSession !== 0 && hasSession !== 1) bad(`${path}.values[${b + 4}]`, 'expected 0|1');
    restored.push({
      plays: count(values[b]!, `${path}.values[${b}]`),
      skips: count(values[b + 1]!, `${path}.values[${b + 1}]`),
      likes: count(values[b + 2]!, `${path}.values[${b + 2}]`),
      sessions: count(values[b + 3]!, `${path}.values[${b + 3}]`),
      session:
        hasSession === 1
          ? {
              start: values[b + 5]!,
              last: values[b + 6]!,
              plays: count(values[b + 7]!, `${path}.values[${b + 7}]`),
              listenedMs: values[b + 8]!,
            }
          : undefined,
    });
  }
  for (let i = 0, from = 0; i < n; i++) {
    const to = from + historyLength[i]!;
    users.set(ids[i]!, restoredUser(restored[i]!, cols, from, to));
    from = to;
  }
  return { users, dictionary };
}
