/**
 * Engagement score and segments (formulas and rules in src/analytics/README.md; keep the
 * two in step). Pure functions of a profile's counters and the current time.
 */
import { DAY_MS, type UserTable } from './users.ts';

/** What the score and the segment rules read of a profile. */
export interface EngagementInput {
  now: number;
  firstSeen: number;
  lastSeen: number;
  /** Days with an event among the last 28 (today included). */
  activeDays28: number;
  plays: number;
  completes: number;
  /** `track.skipped` events. */
  skipEvents: number;
  likes: number;
  playlistAdds: number;
  sessions: number;
}

export const WEIGHTS = { recency: 25, frequency: 25, depth: 20, completion: 20, affinity: 10 } as const;
/** Recency halves every week of silence. */
export const RECENCY_HALF_LIFE_MS = 7 * DAY_MS;
/** Active on this many of the last 28 days gives the whole frequency component. */
export const FREQUENCY_FULL_DAYS = 20;
/** This many plays per session gives the whole depth component. */
export const DEPTH_FULL_PLAYS = 8;
/** One like or playlist add per this many plays gives the whole affinity component. */
export const AFFINITY_FULL_EVERY = 5;

export interface EngagementParts {
  recency: number;
  frequency: number;
  depth: number;
  completion: number;
  affinity: number;
  score: number;
}

const clamp01 = (x: number) => (x <= 0 || Number.isNaN(x) ? 0 : x >= 1 ? 1 : x);

/** The score 0–100 with its components (each capped at its weight). */
export function engagement(x: EngagementInput): EngagementParts {
  const listens = x.plays + x.skipEvents;
  const recency = WEIGHTS.recency * 2 ** (-Math.max(0, x.now - x.lastSeen) / RECENCY_HALF_LIFE_MS);
  const frequency = WEIGHTS.frequency * clamp01(x.activeDays28 / FREQUENCY_FULL_DAYS);
  const depth = WEIGHTS.depth * clamp01(x.plays / Math.max(1, x.sessions) / DEPTH_FULL_PLAYS);
  // Laplace-smoothed completion rate: one play is no evidence of a habit either way.
  const completion = listens === 0 ? 0 : WEIGHTS.completion * ((x.completes + 1) / (listens + 2));
  const affinity =
    WEIGHTS.affinity * clamp01((AFFINITY_FULL_EVERY * (x.likes + x.playlistAdds)) / Math.max(1, listens));
  const score = Math.round(recency + frequency + depth + completion + affinity);
  return { recency, frequency, depth, completion, affinity, score: Math.min(100, Math.max(0, score)) };
}

export const SEGMENTS = [
  { name: 'dormant', description: 'no event for 30 days or more' },
  {
    name: 'at-risk',
    description: 'silent 14–29 days, or silent 7–13 days after being active on 4+ of the last 28 days',
  },
  { name: 'new', description: 'first event less than 7 days ago' },
  { name: 'power', description: 'active on 12+ of the last 28 days with an engagement score of 70 or more' },
  { name: 'regular', description: 'active on 4+ of the last 28 days (about weekly or more)' },
  {
    name: 'casual',
    description: 'everyone else: active in the last 2 weeks, on fewer than 4 of the last 28 days',
  },
] as const;
export type SegmentName = (typeof SEGMENTS)[number]['name'];
export const SEGMENT_NAMES: ReadonlySet<string> = new Set(SEGMENTS.map((s) => s.name));

/** The segment of a user: the first rule of SEGMENTS that matches. */
export function segmentOf(x: EngagementInput, score: number): SegmentName {
  const silentDays = (x.now - x.lastSeen) / DAY_MS;
  if (silentDays >= 30) return 'dormant';
  if (silentDays >= 14) return 'at-risk';
  if (silentDays >= 7 && x.activeDays28 >= 4) return 'at-risk';
  if (x.now - x.firstSeen < 7 * DAY_MS) return 'new';
  if (x.activeDays28 >= 12 && score >= 70) return 'power';
  if (x.activeDays28 >= 4) return 'regular';
  return 'casual';
}

/** The engagement input of a user's record at `now`. */
export function inputOf(users: UserTable, slot: number, now: number, sessions: number): EngagementInput {
  const c = users.counts(slot);
  return {
    now,
    firstSeen: users.firstSeen(slot),
    lastSeen: users.lastSeen(slot),
    activeDays28: users.activeDays(slot, Math.floor(now / DAY_MS), 28),
    plays: c.plays,
    completes: c.completes,
    skipEvents: c.skips,
    likes: c.likes,
    playlistAdds: c.playlistAdds,
    sessions,
  };
}
