import { describe, expect, it } from 'vitest';
import { engagement, segmentOf, SEGMENTS, WEIGHTS, type EngagementInput } from './engagement.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 2, 1);

const user = (x: Partial<EngagementInput> = {}): EngagementInput => ({
  now: NOW,
  firstSeen: NOW - 60 * DAY,
  lastSeen: NOW,
  activeDays28: 0,
  plays: 0,
  completes: 0,
  skipEvents: 0,
  likes: 0,
  playlistAdds: 0,
  sessions: 0,
  ...x,
});

describe('engagement score', () => {
  it('weights sum to 100 and a perfect user scores 100', () => {
    expect(Object.values(WEIGHTS).reduce((a, b) => a + b, 0)).toBe(100);
    const e = engagement(user({ activeDays28: 28, plays: 400, completes: 400, likes: 100, sessions: 20 }));
    expect(e.recency).toBe(25);
    expect(e.frequency).toBe(25);
    expect(e.depth).toBe(20);
    expect(e.completion).toBeCloseTo(20 * (401 / 402), 10);
    expect(e.affinity).toBe(10);
    expect(e.score).toBe(100);
  });

  it('recency halves every 7 silent days; each component is capped at its weight', () => {
    expect(engagement(user({ lastSeen: NOW - 7 * DAY })).recency).toBeCloseTo(12.5, 10);
    expect(engagement(user({ lastSeen: NOW - 14 * DAY })).recency).toBeCloseTo(6.25, 10);
    // A future lastSeen (clock skew) never gives more than the weight.
    expect(engagement(user({ lastSeen: NOW + DAY })).recency).toBe(25);
    expect(engagement(user({ activeDays28: 10 })).frequency).toBe(12.5);
    expect(engagement(user({ activeDays28: 40 })).frequency).toBe(25);
    expect(engagement(user({ plays: 12, sessions: 3 })).depth).toBe(10); // 4 plays/session of 8
    expect(engagement(user({ plays: 1000, sessions: 1 })).depth).toBe(20);
    expect(engagement(user({ plays: 10, likes: 1 })).affinity).toBe(5); // one like per 10 plays, full at 1 per 5
    expect(engagement(user({ plays: 1, likes: 50 })).affinity).toBe(10);
  });

  it('completion is Laplace-smoothed and counts explicit skips against it; no listens gives 0', () => {
    expect(engagement(user()).completion).toBe(0);
    expect(engagement(user({ plays: 8, completes: 8, skipEvents: 0 })).completion).toBeCloseTo(
      20 * (9 / 10),
      10,
    );
    expect(engagement(user({ plays: 4, completes: 4, skipEvents: 4 })).completion).toBeCloseTo(
      20 * (5 / 10),
      10,
    );
  });

  it('the score is an integer 0–100 and rises with every component', () => {
    const base = user({ lastSeen: NOW - 3 * DAY, activeDays28: 5, plays: 20, completes: 10, sessions: 5 });
    const s = engagement(base).score;
    expect(Number.isInteger(s)).toBe(true);
    for (const better of [
      { lastSeen: NOW },
      { activeDays28: 10 },
      { completes: 18 },
      { likes: 3 },
      { sessions: 3 },
    ]) {
      expect(engagement({ ...base, ...better }).score).toBeGreaterThan(s);
    }
  });
});

describe('segments', () => {
  const seg = (x: Partial<EngagementInput>) => {
    const u = user(x);
    return segmentOf(u, engagement(u).score);
  };

  it('follows the documented rules in order', () => {
    expect(SEGMENTS.map((s) => s.name)).toEqual(['dormant', 'at-risk', 'new', 'power', 'regular', 'casual']);
    expect(seg({ lastSeen: NOW - 30 * DAY })).toBe('dormant');
    expect(seg({ lastSeen: NOW - 29 * DAY })).toBe('at-risk');
    expect(seg({ lastSeen: NOW - 14 * DAY })).toBe('at-risk');
    expect(seg({ lastSeen: NOW - 8 * DAY, activeDays28: 5 })).toBe('at-risk');
    expect(seg({ lastSeen: NOW - 8 * DAY, activeDays28: 2 })).toBe('casual');
    expect(seg({ firstSeen: NOW - 6 * DAY, activeDays28: 6 })).toBe('new');
    expect(seg({ firstSeen: NOW - 7 * DAY, activeDays28: 6 })).toBe('regular');
    const power = { activeDays28: 20, plays: 300, completes: 280, likes: 60, sessions: 25 };
    expect(seg(power)).toBe('power');
    // Frequent but not engaged enough for power.
    expect(seg({ ...power, completes: 0, likes: 0, plays: 20 })).toBe('regular');
    expect(seg({ activeDays28: 3 })).toBe('casual');
  });
});
