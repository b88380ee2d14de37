import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from './options.ts';
import { event, harness, played } from './test-support.ts';

const MIN = 60_000;
const NOW = Date.UTC(2026, 0, 20, 12);
/** The service's default session grace. */
const GRACE = 60 * MIN;

const arbEvent = fc.record({
  user: fc.integer({ min: 0, max: 3 }),
  kind: fc.constantFrom('play', 'short-play', 'skip', 'like', 'add', 'open'),
  minute: fc.integer({ min: 0, max: 12 * 60 }),
  second: fc.integer({ min: 0, max: 59 }),
  artist: fc.integer({ min: 0, max: 11 }),
  /** Arrival delay: the event is handled at (event time + lag), so it is at most GRACE late. */
  lag: fc.integer({ min: 0, max: GRACE - 1 }),
});
type Gen = typeof arbEvent extends fc.Arbitrary<infer T> ? T : never;

function toEvent(g: Gen, i: number): AnalyticsEvent {
  const userId = `user-${g.user}`;
  const ts = NOW - 13 * 60 * MIN + g.minute * MIN + g.second * 1000 + (i % 1000);
  const artistId = `artist-${g.artist}`;
  switch (g.kind) {
    case 'play':
      return played(userId, `track-${g.artist}`, artistId, ts);
    case 'short-play':
      return played(userId, `track-${g.artist}`, artistId, ts, { playedMs: 5_000 });
    case 'skip':
      return event('track.skipped', userId, ts, { trackId: 'x', artistId, positionMs: 2_000 });
    case 'like':
      return event('track.liked', userId, ts, { trackId: 'x', artistId });
    case 'add':
      return event('playlist.track_added', userId, ts, { playlistId: 'p', trackId: 'x' });
    default:
      return event('app.opened', userId, ts, { platform: 'web' });
  }
}

async function fold(events: AnalyticsEvent[]) {
  const h = harness({ now: NOW });
  await h.feed(events);
  const users: Record<string, unknown> = {};
  for (let u = 0; u < 4; u++) {
    const id = `user-${u}`;
    const exported = h.svc.export(id) as { profile: unknown };
    users[id] = { user: h.svc.user(id), profile: exported.profile };
  }
  return { users, trending: h.svc.trending('track', '24h', 20).items, segments: h.svc.segments() };
}

describe('order independence (fast-check)', () => {
  it('folding events in any order within the session grace yields the same per-user state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbEvent, { minLength: 1, maxLength: 120 }), async (gens) => {
        const events = gens.map(toEvent);
        const byTime = events
          .map((e, i) => ({ e, i }))
          .sort((a, b) => a.e.ts - b.e.ts || a.i - b.i)
          .map((x) => x.e);
        // Arrival order: by event time + lag (each event at most GRACE behind the newest before it).
        const arrival = events
          .map((e, i) => ({ e, at: e.ts + gens[i]!.lag, i }))
          .sort((a, b) => a.at - b.at || a.i - b.i)
          .map((x) => x.e);
        const a = await fold(byTime);
        const b = await fold(arrival);
        expect(b.users).toEqual(a.users);
        expect(b.segments).toEqual(a.segments);
        // Scores are float sums in another order: equal ranks and plays, scores to rounding.
        expect(b.trending.map((t) => [t.id, t.plays, t.uniqueListeners])).toEqual(
          a.trending.map((t) => [t.id, t.plays, t.uniqueListeners]),
        );
      }),
      { seed: 20260120, numRuns: 60 },
    );
  });
});
