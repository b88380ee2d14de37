import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DAY_MS } from './decay.ts';
import type { ModelMetrics } from './evaluate.ts';
import { mulberry32 } from './synthetic.ts';
import type { Interaction, Recommender } from './types.ts';

/**
 * Real listening data: the HetRec 2011 Last.fm 2K `user_artists.dat` (GroupLens, research
 * use): per user, how many times they played each artist. The development half (users with
 * odd ids) is `test/fixtures/lastfm-2k-user_artists-dev.tsv.gz`.
 *
 * It has no times and no sessions, so the protocol (`splitListening`) turns it into a live
 * stream: per user a seeded 20 % of their artists is held out, the rest become plays (more
 * plays for a heavier weight), shuffled into listening sessions spread over 30 days, all
 * users interleaved in time order. Every model learns the same stream through `observe` and
 * is asked once at the end for its top k, the user's training artists excluded
 * (`evaluateHoldout`).
 */
export interface UserArtist {
  userId: string;
  artistId: string;
  /** Plays of that artist by that user. */
  weight: number;
}

export const LASTFM_DEV_FIXTURE = new URL(
  '../../../test/fixtures/lastfm-2k-user_artists-dev.tsv.gz',
  import.meta.url,
);

/** Parses `userID artistID weight` lines (tab-separated, one header line). */
export function parseUserArtists(text: string): UserArtist[] {
  const out: UserArtist[] = [];
  const lines = text.split('\n');
  for (let n = 1; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '') continue;
    const [u, a, w] = line.split('\t');
    const weight = Number(w);
    if (!u || !a || !Number.isFinite(weight) || weight < 0)
      throw new Error(`user_artists line ${n + 1}: expected "userID<TAB>artistID<TAB>weight", got ${line}`);
    out.push({ userId: u, artistId: a, weight });
  }
  return out;
}

/** Reads a `user_artists` file, gunzipped when it ends in `.gz`. */
export function loadUserArtists(path: string | URL = LASTFM_DEV_FIXTURE): UserArtist[] {
  const raw = readFileSync(path);
  const gz = String(path).endsWith('.gz');
  return parseUserArtists((gz ? gunzipSync(raw) : raw).toString('utf8'));
}

export interface ListeningSplitOptions {
  /** Seeds the hold-out draw, the play order and the session times. Default 1. */
  seed?: number;
  /** Share of each user's artists held out (at least 1). Default 0.2. */
  holdoutShare?: number;
  /** Users with fewer artists are skipped. Default 5. */
  minArtists?: number;
  /** Plays of an artist = min(maxPlays, 1 + floor(log2(weight))). Default 8. */
  maxPlays?: number;
  /** The stream spans this many days. Default 30. */
  days?: number;
  /** Time of the first possible play. Default 2026-01-05T00:00Z. */
  start?: number;
  /** Session length in plays is uniform in [minSession, maxSession]. Defaults 3 and 12. */
  minSession?: number;
  maxSession?: number;
  /** Only the first `users` users (in file order); default all. For quick tests. */
  users?: number;
}

export interface HoldoutCase {
  userId: string;
  /** The artists streamed as this user's plays. */
  train: string[];
  /** The artists kept back: the relevant answers. */
  heldOut: string[];
}

export interface ListeningSplit {
  /** Time-ordered `play` interactions (trackId = artistId = the artist). */
  interactions: Interaction[];
  cases: HoldoutCase[];
  /** Distinct artists over all users (train and held out). */
  artists: number;
  /** End of the stream: the query time. */
  end: number;
  options: Required<Omit<ListeningSplitOptions, 'users'>>;
}

const PLAY_GAP_MS = 3.5 * 60_000;

/** The hold-out split and the play stream (deterministic for a seed). */
export function splitListening(
  rows: readonly UserArtist[],
  options: ListeningSplitOptions = {},
): ListeningSplit {
  const o = {
    seed: 1,
    holdoutShare: 0.2,
    minArtists: 5,
    maxPlays: 8,
    days: 30,
    start: Date.UTC(2026, 0, 5),
    minSession: 3,
    maxSession: 12,
    ...options,
  };
  const rnd = mulberry32(o.seed);
  const byUser = new Map<string, UserArtist[]>();
  for (const r of rows) {
    let l = byUser.get(r.userId);
    if (!l) byUser.set(r.userId, (l = []));
    l.push(r);
  }
  const artists = new Set(rows.map((r) => r.artistId));
  const span = o.days * DAY_MS;
  const interactions: Interaction[] = [];
  const cases: HoldoutCase[] = [];
  let users = 0;
  for (const [userId, list] of byUser) {
    if (options.users !== undefined && users >= options.users) break;
    if (list.length < o.minArtists) continue;
    users++;
    const shuffled = shuffle([...list], rnd);
    const nHeld = Math.max(1, Math.round(o.holdoutShare * list.length));
    const held = shuffled.slice(0, nHeld);
    const train = shuffled.slice(nHeld);
    cases.push({ userId, train: train.map((r) => r.artistId), heldOut: held.map((r) => r.artistId) });
    // One token per play, shuffled into sessions of consecutive plays at random times.
    const plays: string[] = [];
    for (const r of train) {
      const n = Math.min(o.maxPlays, 1 + Math.floor(Math.log2(Math.max(1, r.weight))));
      for (let k = 0; k < n; k++) plays.push(r.artistId);
    }
    shuffle(plays, rnd);
    const sessions: number[] = [];
    for (let p = 0; p < plays.length;) {
      const len = o.minSession + Math.floor(rnd() * (o.maxSession - o.minSession + 1));
      sessions.push(Math.min(len, plays.length - p));
      p += len;
    }
    const starts = sessions.map(() => o.start + Math.floor(rnd() * span)).sort((a, b) => a - b);
    let p = 0;
    let free = o.start;
    sessions.forEach((len, s) => {
      let ts = Math.max(starts[s] as number, free);
      for (let k = 0; k < len; k++, p++) {
        const artistId = plays[p] as string;
        interactions.push({
          userId,
          trackId: artistId,
          artistId,
          kind: 'play',
          ts,
          completion: 0.85 + 0.15 * rnd(),
        });
        ts += PLAY_GAP_MS;
      }
      free = ts + 30 * 60_000;
    });
  }
  interactions.sort((a, b) => a.ts - b.ts || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const end = Math.max(o.start + span, (interactions.at(-1)?.ts ?? 0) + 1);
  const { users: _users, ...rest } = o;
  return { interactions, cases, artists: artists.size, end, options: rest };
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = xs[i] as T;
    xs[i] = xs[j] as T;
    xs[j] = t;
  }
  return xs;
}

export interface HoldoutReport {
  k: number;
  users: number;
  events: number;
  catalog: number;
  /** Per model; `observeMs` is the whole stream, so `observeUsPerPlay` = observeMs × 1000 / events. */
  models: (ModelMetrics & { observeUsPerPlay: number })[];
}

/**
 * Feeds the whole stream to each model in turn (timing `observe`), then asks each for every
 * user's top k at `split.end`, the user's training artists filtered out (the harness asks
 * for k + |train| so that no model loses slots to them), and scores them against the
 * held-out artists: hit-rate@k, precision@k, recall@k, catalog coverage.
 */
export function evaluateHoldout(
  split: ListeningSplit,
  makeModels: readonly (() => Recommender)[],
  k = 10,
): HoldoutReport {
  const models: HoldoutReport['models'] = [];
  for (const make of makeModels) {
    const m = make();
    const t0 = performance.now();
    for (const i of split.interactions) m.observe(i);
    const observeMs = performance.now() - t0;
    let hits = 0;
    let precision = 0;
    let recall = 0;
    const covered = new Set<string>();
    const t1 = performance.now();
    for (const c of split.cases) {
      const train = new Set(c.train);
      const held = new Set(c.heldOut);
      let got = 0;
      let n = 0;
      for (const r of m.recommend(c.userId, k + train.size, split.end)) {
        if (train.has(r.trackId)) continue;
        covered.add(r.trackId);
        if (held.has(r.trackId)) got++;
        if (++n >= k) break;
      }
      if (got > 0) hits++;
      precision += got / k;
      recall += got / held.size;
    }
    const recommendMs = performance.now() - t1;
    const users = Math.max(1, split.cases.length);
    models.push({
      model: m.name,
      hitRate: hits / users,
      precision: precision / users,
      recall: recall / users,
      coverage: covered.size / split.artists,
      observeMs,
      recommendMs,
      observeUsPerPlay: (observeMs * 1000) / Math.max(1, split.interactions.length),
    });
  }
  return {
    k,
    users: split.cases.length,
    events: split.interactions.length,
    catalog: split.artists,
    models,
  };
}
