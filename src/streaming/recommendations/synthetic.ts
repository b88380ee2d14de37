import { mulberry32 } from '../../core/random/index.ts';
import type { Interaction } from './types.ts';

export { mulberry32 };

export interface SyntheticOptions {
  seed?: number;
  /** Default 10. */
  genres?: number;
  /** Default 12. */
  artistsPerGenre?: number;
  /** Default 12. */
  tracksPerArtist?: number;
  /** Tracks (spread over genres) that everyone plays now and then. Default 12. */
  globalHits?: number;
  /** Default 600. */
  users?: number;
  /** Default 21. */
  days?: number;
  /** Mean listening sessions per user per day (users vary ×0.3–×2). Default 0.8. */
  sessionsPerDay?: number;
  /** Tracks per session, uniform in [min, max]. Default [5, 16]. */
  sessionLength?: [number, number];
  /** Zipf exponent of track popularity within a genre. Default 1. */
  zipf?: number;
  /** Chance a pick is out of taste (a track of another genre, by that genre's popularity). Default 0.12. */
  explore?: number;
  /** Chance a pick is one of the global hits (crossover: in taste for everyone; half released during the period). Default 0.08. */
  hitShare?: number;
  /** Chance a pick replays a track the user liked before. Default 0.1. */
  replay?: number;
  /** Chance the next track of a session is by the same artist. Default 0.25. */
  sameArtist?: number;
  /** Share of tracks released during the period (unplayable before their day, then hyped). Default 0.25. */
  newReleases?: number;
  /** A new release's popularity × (1 + hype · e^(−days since release / hypeDays)). Default 6. */
  hype?: number;
  /** Default 4. */
  hypeDays?: number;
  /** Time of the first day, ms. Default 2026-01-05T00:00Z. */
  startTs?: number;
}

export interface SyntheticTrack {
  trackId: string;
  artistId: string;
  genre: number;
  hit: boolean;
  /** Day index of release (0 = in the catalog from the start). */
  releaseDay: number;
}

export interface SyntheticUser {
  userId: string;
  /** The planted taste: genres and their mixture weights (sum 1). */
  tastes: { genre: number; weight: number }[];
}

export interface SyntheticDataset {
  options: Required<SyntheticOptions>;
  tracks: SyntheticTrack[];
  users: SyntheticUser[];
  /** In time order (ties by user, then generation order). */
  interactions: Interaction[];
  /** Whether the track is in the user's planted taste: one of their genres, or a global (crossover) hit. */
  inTaste(userId: string, trackId: string): boolean;
}

export const SYNTHETIC_DEFAULTS: Required<SyntheticOptions> = {
  seed: 1,
  genres: 10,
  artistsPerGenre: 12,
  tracksPerArtist: 12,
  globalHits: 12,
  users: 600,
  days: 21,
  sessionsPerDay: 0.8,
  sessionLength: [5, 16],
  zipf: 1,
  explore: 0.12,
  hitShare: 0.08,
  replay: 0.1,
  sameArtist: 0.25,
  newReleases: 0.25,
  hype: 6,
  hypeDays: 4,
  startTs: Date.UTC(2026, 0, 5),
};

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Samples an index from cumulative weights. */
function pick(cum: number[], r: number): number {
  const x = r * (cum[cum.length - 1] as number);
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((cum[mid] as number) > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function cumulative(ws: number[]): number[] {
  let s = 0;
  return ws.map((w) => (s += w));
}

function poisson(lambda: number, rnd: () => number): number {
  const l = Math.exp(-lambda);
  let k = 0;
  let p = rnd();
  while (p > l) {
    k++;
    p *= rnd();
  }
  return k;
}

/**
 * Listening data with planted tastes. Tracks belong to artists inside genres, with a Zipf
 * popularity within each genre (over a shuffled order, so it is not tied to artists) and a
 * few global hits; a share of tracks is released during the period and hyped for a few days
 * (so "popular now" is a real signal). Each user likes 1–2 genres (a mixture); each session picks one of them
 * and plays mostly in-taste tracks, sometimes the same artist again, sometimes a hit,
 * sometimes something out of taste. In-taste tracks are mostly played to the end and now
 * and then liked or added to a playlist; out-of-taste ones are mostly skipped or left early.
 * Genres differ in size of audience (genre g is favoured ∝ 1/(g+1)^0.5), so global
 * popularity is informative but not personal. Fully determined by the seed.
 */
export function generateListening(options: SyntheticOptions = {}): SyntheticDataset {
  const o: Required<SyntheticOptions> = { ...SYNTHETIC_DEFAULTS, ...options };
  const rnd = mulberry32(o.seed);
  const tracks: SyntheticTrack[] = [];
  const byGenre: SyntheticTrack[][] = [];
  const byArtist = new Map<string, SyntheticTrack[]>();
  for (let g = 0; g < o.genres; g++) {
    const list: SyntheticTrack[] = [];
    for (let a = 0; a < o.artistsPerGenre; a++) {
      const artistId = `a${g}-${a}`;
      const mine: SyntheticTrack[] = [];
      for (let t = 0; t < o.tracksPerArtist; t++) {
        const tr: SyntheticTrack = {
          trackId: `t${g}-${a}-${t}`,
          artistId,
          genre: g,
          hit: false,
          releaseDay: 0,
        };
        list.push(tr);
        mine.push(tr);
        tracks.push(tr);
      }
      byArtist.set(artistId, mine);
    }
    // Shuffle, then Zipf weights by shuffled rank.
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [list[i], list[j]] = [list[j] as SyntheticTrack, list[i] as SyntheticTrack];
    }
    byGenre.push(list);
    for (const tr of list)
      if (rnd() < o.newReleases) tr.releaseDay = 1 + Math.floor(rnd() * Math.max(1, o.days - 1));
  }
  const hits: SyntheticTrack[] = [];
  for (let h = 0; h < o.globalHits; h++) {
    const list = byGenre[h % o.genres] as SyntheticTrack[];
    const tr = list[Math.floor(h / o.genres)] as SyntheticTrack; // among the genre's most popular
    tr.hit = true;
    // Half the hits are there from the start; the others come out during the period.
    tr.releaseDay = h % 2 === 0 ? 0 : 1 + Math.floor(rnd() * Math.max(1, o.days - 1));
    hits.push(tr);
  }
  const hype = (tr: SyntheticTrack, d: number): number =>
    tr.releaseDay > d ? 0 : tr.releaseDay > 0 ? 1 + o.hype * Math.exp(-(d - tr.releaseDay) / o.hypeDays) : 1;
  /** Per genre, cumulative pick weights for day `d`: Zipf by shuffled rank, 0 before release, hyped after. */
  const weightsOn = (d: number): number[][] =>
    byGenre.map((list) => cumulative(list.map((tr, r) => hype(tr, d) / (r + 1) ** o.zipf)));
  const daily = Array.from({ length: o.days }, (_, d) => weightsOn(d));
  const dailyHits = Array.from({ length: o.days }, (_, d) => cumulative(hits.map((tr) => hype(tr, d))));
  const genreAudience = cumulative(Array.from({ length: o.genres }, (_, g) => 1 / (g + 1) ** 0.5));

  const users: SyntheticUser[] = [];
  const taste = new Map<string, Set<number>>();
  const interactions: (Interaction & { seq: number })[] = [];
  let seq = 0;
  for (let u = 0; u < o.users; u++) {
    const userId = `u${u}`;
    const g1 = pick(genreAudience, rnd());
    const tastes = [{ genre: g1, weight: 1 }];
    if (rnd() < 0.5 && o.genres > 1) {
      let g2 = pick(genreAudience, rnd());
      while (g2 === g1) g2 = (g2 + 1) % o.genres;
      const w2 = 0.2 + 0.3 * rnd();
      tastes[0] = { genre: g1, weight: 1 - w2 };
      tastes.push({ genre: g2, weight: w2 });
    }
    users.push({ userId, tastes });
    const mine = new Set(tastes.map((t) => t.genre));
    taste.set(userId, mine);
    const tasteCum = cumulative(tastes.map((t) => t.weight));
    const activity = 0.3 + 1.7 * rnd();
    const liked: SyntheticTrack[] = [];

    const chooseTrack = (
      genreCum: number[][],
      day: number,
      sessionGenre: number,
      prev: SyntheticTrack | undefined,
    ): { tr: SyntheticTrack; fit: boolean } => {
      const r = rnd();
      if (r < o.hitShare && hits.length > 0) {
        // Crossover hits: everyone enjoys them (in taste for every user).
        return { tr: hits[pick(dailyHits[day] as number[], rnd())] as SyntheticTrack, fit: true };
      }
      if (r < o.hitShare + o.explore) {
        let g = Math.floor(rnd() * o.genres);
        if (mine.has(g) && o.genres > mine.size) while (mine.has(g)) g = (g + 1) % o.genres;
        const tr = (byGenre[g] as SyntheticTrack[])[pick(genreCum[g] as number[], rnd())] as SyntheticTrack;
        return { tr, fit: mine.has(g) || tr.hit };
      }
      if (r < o.hitShare + o.explore + o.replay && liked.length > 0) {
        return { tr: liked[Math.floor(rnd() * liked.length)] as SyntheticTrack, fit: true };
      }
      if (prev && mine.has(prev.genre) && rnd() < o.sameArtist) {
        const list = byArtist.get(prev.artistId) as SyntheticTrack[];
        const tr = list[Math.floor(rnd() * list.length)] as SyntheticTrack;
        if (tr.releaseDay <= day) return { tr, fit: true };
      }
      return {
        tr: (byGenre[sessionGenre] as SyntheticTrack[])[
          pick(genreCum[sessionGenre] as number[], rnd())
        ] as SyntheticTrack,
        fit: true,
      };
    };

    for (let d = 0; d < o.days; d++) {
      const sessions = poisson(o.sessionsPerDay * activity, rnd);
      for (let s = 0; s < sessions; s++) {
        let ts = o.startTs + d * DAY + Math.floor((7 + 16 * rnd()) * 60 * MINUTE);
        const sessionGenre = (tastes[pick(tasteCum, rnd())] as { genre: number }).genre;
        const len = o.sessionLength[0] + Math.floor(rnd() * (o.sessionLength[1] - o.sessionLength[0] + 1));
        let prev: SyntheticTrack | undefined;
        for (let k = 0; k < len; k++) {
          const { tr, fit } = chooseTrack(daily[d] as number[][], d, sessionGenre, prev);
          const durationMs = (2.5 + 2 * rnd()) * MINUTE;
          const base = { userId, trackId: tr.trackId, artistId: tr.artistId };
          const skip = rnd() < (fit ? 0.03 : 0.65);
          if (skip) {
            ts += Math.floor((5 + 25 * rnd()) * 1000);
            interactions.push({ ...base, kind: 'skip', ts, seq: seq++ });
          } else {
            const completion = fit ? Math.min(1, 0.65 + 0.45 * rnd()) : 0.05 + 0.55 * rnd();
            ts += Math.floor(completion * durationMs);
            interactions.push({
              ...base,
              kind: 'play',
              ts,
              completion: Math.round(completion * 1000) / 1000,
              seq: seq++,
            });
            if (fit && completion >= 0.9) {
              const r = rnd();
              if (r < 0.08) {
                interactions.push({ ...base, kind: 'like', ts: ts + 1, seq: seq++ });
                liked.push(tr);
              } else if (r < 0.12) {
                interactions.push({ ...base, kind: 'add', ts: ts + 1, seq: seq++ });
                liked.push(tr);
              }
            }
          }
          ts += 500;
          prev = tr;
        }
      }
    }
  }
  interactions.sort(
    (x, y) => x.ts - y.ts || (x.userId < y.userId ? -1 : x.userId > y.userId ? 1 : 0) || x.seq - y.seq,
  );
  const genreOf = new Map(tracks.map((t) => [t.trackId, t.genre]));
  const hitIds = new Set(hits.map((t) => t.trackId));
  return {
    options: o,
    tracks,
    users,
    interactions: interactions.map(({ seq: _seq, ...i }) => i),
    inTaste: (userId, trackId) => {
      if (hitIds.has(trackId)) return true;
      const g = genreOf.get(trackId);
      return g !== undefined && (taste.get(userId)?.has(g) ?? false);
    },
  };
}
