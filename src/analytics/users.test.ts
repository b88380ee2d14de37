import { describe, expect, it } from 'vitest';
import { maxOpenSessions } from './sessions.ts';
import { DAY_MS, emptyFact, EventKind, readFact, UserTable, type Fact } from './users.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 10, 12);
const rules = { gapMs: 30 * MIN, graceMs: 60 * MIN, maxOpen: maxOpenSessions(30 * MIN, 60 * MIN) };

const play = (t: number, artistId: string, playedMs = 190_000): Fact => {
  const f = emptyFact();
  readFact(f, EventKind.played, t, { trackId: 'x', artistId, durationMs: 200_000, playedMs });
  return f;
};

describe('UserTable', () => {
  it('counts plays by outcome, keeps first/last seen and the newest network', () => {
    const users = new UserTable(rules, 5);
    const s = users.alloc('pseudo-1', 1, 2, T0);
    users.fold(s, { ...play(T0, 'a'), network: '203.0.113.0/24' });
    users.fold(s, play(T0 + MIN, 'a', 5_000));
    users.fold(s, { ...play(T0 - MIN, 'b', 120_000), network: '198.51.100.0/24' });
    const opened = emptyFact();
    readFact(opened, EventKind.appOpened, T0 + 2 * MIN, { platform: 'android' });
    users.fold(s, opened);
    expect(users.counts(s)).toMatchObject({
      plays: 3,
      completes: 1,
      shortPlays: 1,
      partials: 1,
      appOpens: 1,
      listenedMs: 315_000,
    });
    expect(users.firstSeen(s)).toBe(T0 - MIN);
    expect(users.lastSeen(s)).toBe(T0 + 2 * MIN);
    expect(users.network(s)).toBe('203.0.113.0/24');
    expect(users.platform(s)).toBe('android');
    expect(users.sessions(s)).toEqual({ count: 1, avgDurationMs: 3 * MIN });
  });

  it('top artists: exact up to the capacity, Space-Saving beyond it', () => {
    const users = new UserTable(rules, 3);
    const s = users.alloc('p', 0, 0, T0);
    const artists = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'd'];
    artists.forEach((a, i) => users.fold(s, play(T0 + i * 1000, a)));
    // d took over c's counter (the smallest, 2): count 3 = c_min + 1, an overestimate bounded by c_min.
    expect(users.topArtists(s)).toEqual([
      { id: 'a', plays: 4 },
      { id: 'b', plays: 3 },
      { id: 'd', plays: 3 },
    ]);
    expect(users.topArtists(s, 1)).toEqual([{ id: 'a', plays: 4 }]);
  });

  it('active days over the last 28 days, from a 32-day mask', () => {
    const users = new UserTable(rules, 3);
    const s = users.alloc('p', 0, 0, T0);
    for (const d of [0, 1, 1, 5, 27, 28, 40]) users.fold(s, play(T0 - d * DAY_MS, 'a'));
    const today = Math.floor(T0 / DAY_MS);
    expect(users.activeDays(s, today, 28)).toBe(4); // days 0, 1, 5, 27
    expect(users.activeDays(s, today + 2, 28)).toBe(3); // day 27 is now 29 days ago
    expect(users.activeDays(s, today + 40, 28)).toBe(0);
  });

  it('frees and reuses slots; the CLOCK victim is a user not touched since the hand passed', () => {
    const users = new UserTable(rules, 3);
    const slots = ['p0', 'p1', 'p2'].map((p) => users.alloc(p, 0, 0, T0));
    // Every slot is touched on alloc: the hand clears them on its first round, then picks one.
    const v = users.victim();
    expect(slots).toContain(v);
    users.fold(
      slots.find((s) => s !== v)!,
      play(T0, 'a'),
    );
    users.free(v);
    expect(users.size).toBe(2);
    const again = users.alloc('p3', 0, 0, T0);
    expect(again).toBe(v);
    expect(users.counts(again).plays).toBe(0);
    expect(users.topArtists(again)).toEqual([]);
    expect(users.record(again)).toMatchObject({ pseudonym: 'p3', network: null });
  });
});
