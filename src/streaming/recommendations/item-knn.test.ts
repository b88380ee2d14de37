import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS } from './decay.ts';
import { ItemKnnRecommender, kthLargest, type ItemKnnOptions } from './item-knn.ts';
import { InvalidSnapshotError } from './snapshot-check.ts';
import type { Interaction } from './types.ts';

const T0 = Date.UTC(2026, 0, 5, 12);
const MIN = 60_000;

/** One listening session: plays (completed) 3 minutes apart, starting at `ts`. */
function session(
  userId: string,
  tracks: string[],
  ts: number,
  kind: Interaction['kind'] = 'play',
): Interaction[] {
  return tracks.map((trackId, k) => ({
    userId,
    trackId,
    kind,
    ts: ts + k * 3 * MIN,
    completion: kind === 'play' ? 1 : undefined,
  }));
}
function feed(m: ItemKnnRecommender, events: Interaction[]): ItemKnnRecommender {
  for (const e of events) m.observe(e);
  return m;
}
const ids = (m: ItemKnnRecommender, u: string, now: number, limit = 10): string[] =>
  m.recommend(u, limit, now).map((r) => r.trackId);

describe('ItemKnnRecommender: learning', () => {
  it('recommends what co-occurred with the user’s tracks, with a reason naming the seed', () => {
    const m = new ItemKnnRecommender();
    for (let u = 0; u < 5; u++) feed(m, session(`u${u}`, ['A', 'B'], T0 + u * HOUR_MS));
    feed(m, session('other', ['C', 'D'], T0));
    feed(m, session('me', ['A'], T0 + DAY_MS));
    const recs = m.recommend('me', 1, T0 + DAY_MS);
    expect(recs).toEqual([
      { trackId: 'B', score: expect.any(Number) as number, reason: 'because you played A' },
    ]);
    expect(recs[0]?.score).toBeGreaterThan(0);
  });

  it('fills a cold-start user from popularity, and says so', () => {
    const m = new ItemKnnRecommender();
    feed(m, session('a', ['X', 'Y'], T0));
    feed(m, session('b', ['X'], T0));
    const recs = m.recommend('nobody', 5, T0);
    expect(recs.map((r) => r.trackId)).toEqual(['X', 'Y']);
    expect(recs.every((r) => r.reason.startsWith('popular now (cold start'))).toBe(true);
    // A known user with too few neighbours gets kNN results first, then labelled filler, scored below them.
    feed(m, session('c', ['P', 'Q'], T0));
    feed(m, session('me', ['P'], T0 + HOUR_MS));
    const mine = m.recommend('me', 3, T0 + HOUR_MS);
    expect(mine.map((r) => r.trackId)).toEqual(['Q', 'X', 'Y']);
    expect(mine[0]?.reason).toBe('because you played P');
    expect(mine[1]?.reason).toMatch(/^popular now \(filling in/);
    expect(
      (mine[0]?.score ?? 0) > (mine[1]?.score ?? 0) && (mine[1]?.score ?? 0) >= (mine[2]?.score ?? 0),
    ).toBe(true);
  });

  it('excludes tracks the user played or skipped recently', () => {
    const m = new ItemKnnRecommender();
    for (let u = 0; u < 3; u++) feed(m, session(`u${u}`, ['A', 'B', 'C', 'D'], T0 + u * HOUR_MS));
    feed(m, session('me', ['A', 'B'], T0 + DAY_MS));
    m.observe({ userId: 'me', trackId: 'C', kind: 'skip', ts: T0 + DAY_MS + 10 * MIN });
    const recs = ids(m, 'me', T0 + DAY_MS + HOUR_MS);
    expect(recs).toContain('D');
    for (const t of ['A', 'B', 'C']) expect(recs).not.toContain(t);
  });

  it('forgets the exclusion once a track falls out of the bounded history', () => {
    const m = new ItemKnnRecommender({ historySize: 3, profileSize: 3 });
    feed(m, session('u', ['A', 'B'], T0));
    feed(m, session('me', ['B', 'x1', 'x2', 'x3'], T0 + HOUR_MS)); // B pushed out of me's 3-entry ring and profile
    expect(ids(m, 'me', T0 + 2 * HOUR_MS)).toContain('B');
  });

  it('pairs only within the listening window (pairWindowMs)', () => {
    const m = new ItemKnnRecommender({ pairWindowMs: HOUR_MS });
    m.observe({ userId: 'u', trackId: 'A', kind: 'play', ts: T0 });
    m.observe({ userId: 'u', trackId: 'B', kind: 'play', ts: T0 + 2 * HOUR_MS });
    m.observe({ userId: 'u', trackId: 'C', kind: 'play', ts: T0 + 2 * HOUR_MS + MIN });
    expect(m.cooccurrence('A', 'B', T0 + 3 * HOUR_MS)).toBe(0);
    expect(m.cooccurrence('B', 'C', T0 + 3 * HOUR_MS)).toBeGreaterThan(0);
    expect(m.cooccurrence('C', 'B', T0 + 3 * HOUR_MS)).toBe(m.cooccurrence('B', 'C', T0 + 3 * HOUR_MS));
  });

  it('weights implicit feedback: completed > partial > early exit; like and add strong; skip negative', () => {
    const m = new ItemKnnRecommender();
    const w = (kind: Interaction['kind'], completion?: number): number =>
      m.weightOf({ userId: 'u', trackId: 't', kind, ts: T0, completion });
    expect(w('play', 1)).toBe(1);
    expect(w('play')).toBe(1);
    expect(w('play', 0.5)).toBe(0.5);
    expect(w('play', 0.1)).toBe(-0.5);
    expect(w('like')).toBe(2);
    expect(w('add')).toBe(2);
    expect(w('skip')).toBe(-1);
  });

  it('a like makes a stronger edge than a play; a skip weakens the edge with the session’s tracks', () => {
    const m = new ItemKnnRecommender({ proximityDecay: 1 });
    m.observe({ userId: 'u', trackId: 'A', kind: 'play', ts: T0, completion: 1 });
    m.observe({ userId: 'u', trackId: 'B', kind: 'play', ts: T0, completion: 1 });
    m.observe({ userId: 'v', trackId: 'A', kind: 'play', ts: T0, completion: 1 });
    m.observe({ userId: 'v', trackId: 'C', kind: 'like', ts: T0 });
    expect(m.cooccurrence('A', 'B', T0)).toBeCloseTo(1, 9);
    expect(m.cooccurrence('A', 'C', T0)).toBeCloseTo(2, 9);
    m.observe({ userId: 'w', trackId: 'A', kind: 'play', ts: T0, completion: 1 });
    m.observe({ userId: 'w', trackId: 'B', kind: 'skip', ts: T0 });
    expect(m.cooccurrence('A', 'B', T0)).toBeCloseTo(0.5, 9); // × skipEdgeFactor
    expect(m.cooccurrence('B', 'A', T0)).toBeCloseTo(0.5, 9);
  });

  it('co-occurrence decays with the half-life', () => {
    const m = new ItemKnnRecommender({ halfLifeMs: DAY_MS });
    feed(m, session('u', ['A', 'B'], T0));
    const w0 = m.cooccurrence('A', 'B', T0 + 3 * MIN);
    expect(m.cooccurrence('A', 'B', T0 + 3 * MIN + DAY_MS)).toBeCloseTo(w0 / 2, 9);
  });

  it('breaks ties by trackId and is deterministic', () => {
    const build = (): ItemKnnRecommender => {
      const m = new ItemKnnRecommender();
      feed(m, session('u1', ['S', 'Z'], T0));
      feed(m, session('u2', ['S', 'M'], T0));
      feed(m, session('me', ['S'], T0 + HOUR_MS));
      return m;
    };
    expect(ids(build(), 'me', T0 + HOUR_MS)).toEqual(['M', 'Z']);
    expect(build().recommend('me', 10, T0 + HOUR_MS)).toEqual(build().recommend('me', 10, T0 + HOUR_MS));
  });

  it('is numerically stable at real epochs with a tiny half-life (same ranking as near t = 0)', () => {
    const stream = (base: number): Interaction[] => [
      ...session('u1', ['A', 'B', 'C'], base),
      ...session('u2', ['A', 'B'], base + 10 * MIN),
      ...session('u3', ['A', 'D'], base + 20 * MIN),
      ...session('me', ['A'], base + 30 * MIN),
    ];
    for (const o of [
      { halfLifeMs: 60_000, trendHalfLifeMs: 30_000 },
      { alpha: 0.5 },
      { alpha: 1 },
    ] satisfies ItemKnnOptions[]) {
      const early = feed(new ItemKnnRecommender(o), stream(1e6)).recommend('me', 10, 1e6 + 40 * MIN);
      const late = feed(new ItemKnnRecommender(o), stream(T0)).recommend('me', 10, T0 + 40 * MIN);
      expect(late.map((r) => r.trackId)).toEqual(early.map((r) => r.trackId));
      expect(
        late
          .map((r) => r.trackId)
          .slice(0, 3)
          .sort(),
      ).toEqual(['B', 'C', 'D']);
      for (const [k, r] of late.entries()) {
        expect(Number.isFinite(r.score) && r.score > 0).toBe(true);
        expect(r.score / (early[k]?.score ?? 1)).toBeCloseTo(1, 6);
      }
    }
  });
});

describe('ItemKnnRecommender: long-term taste', () => {
  it('pairs a user’s tracks across sessions days apart (long-term), not only within a session', () => {
    const m = new ItemKnnRecommender({ pairWindowMs: HOUR_MS });
    m.observe({ userId: 'u', trackId: 'A', kind: 'play', ts: T0 });
    m.observe({ userId: 'u', trackId: 'B', kind: 'play', ts: T0 + 10 * DAY_MS });
    m.observe({ userId: 'u', trackId: 'B', kind: 'play', ts: T0 + 11 * DAY_MS }); // a repeat adds nothing long-term
    const now = T0 + 11 * DAY_MS;
    expect(m.cooccurrence('A', 'B', now)).toBe(0);
    expect(m.longCooccurrence('A', 'B', now)).toBeGreaterThan(0);
    expect(m.longCooccurrence('B', 'A', now)).toBe(m.longCooccurrence('A', 'B', now));
    expect(m.longCooccurrence('A', 'B', T0 + 10 * DAY_MS)).toBeCloseTo(1, 9);
  });

  it('recommends from long-term taste: listeners of A also listened to B, weeks apart', () => {
    const m = new ItemKnnRecommender();
    for (let u = 0; u < 5; u++) {
      m.observe({ userId: `u${u}`, trackId: 'A', kind: 'play', ts: T0 + u * MIN });
      m.observe({ userId: `u${u}`, trackId: 'B', kind: 'play', ts: T0 + 20 * DAY_MS + u * MIN });
    }
    m.observe({ userId: 'other', trackId: 'C', kind: 'play', ts: T0 + 20 * DAY_MS });
    m.observe({ userId: 'me', trackId: 'A', kind: 'play', ts: T0 + 21 * DAY_MS });
    const recs = m.recommend('me', 1, T0 + 21 * DAY_MS);
    expect(recs).toEqual([
      { trackId: 'B', score: expect.any(Number) as number, reason: 'because you played A' },
    ]);
  });

  it('excludes the whole profile, also tracks older than the ring', () => {
    const m = new ItemKnnRecommender({ historySize: 2 });
    for (let u = 0; u < 3; u++) feed(m, session(`u${u}`, ['A', 'B', 'C', 'D'], T0 + u * HOUR_MS));
    feed(m, session('me', ['A', 'B', 'C'], T0 + DAY_MS));
    const recs = ids(m, 'me', T0 + DAY_MS + HOUR_MS);
    expect(recs[0]).toBe('D');
    expect(recs).not.toContain('A'); // out of the 2-entry ring, still in the profile
  });

  it('rebases the decay landmark on long streams with the same rankings and decayed weights', () => {
    const o = { halfLifeMs: 60_000, trendHalfLifeMs: 30_000, longHalfLifeMs: 120_000 };
    const stream = (base: number): Interaction[] => {
      const out: Interaction[] = [];
      // 40 hours of sessions: ~4,800 trend half-lives, so the landmark moves many times.
      for (let k = 0; k < 400; k++)
        out.push(...session(`u${k % 7}`, [`t${k % 11}`, `t${(k * 3) % 11}`], base + k * 6 * MIN));
      return out;
    };
    const a = feed(new ItemKnnRecommender(o), stream(T0));
    const b = feed(new ItemKnnRecommender(o), stream(1e6));
    const end = 400 * 6 * MIN;
    for (let u = 0; u < 7; u++) {
      const ra = a.recommend(`u${u}`, 5, T0 + end);
      const rb = b.recommend(`u${u}`, 5, 1e6 + end);
      expect(ra.map((r) => r.trackId)).toEqual(rb.map((r) => r.trackId));
      for (const [k, r] of ra.entries()) {
        expect(Number.isFinite(r.score) && r.score > 0).toBe(true);
        expect(r.score / rb[k]!.score).toBeCloseTo(1, 6);
      }
    }
    const w = a.cooccurrence('t1', 't3', T0 + end);
    expect(w).toBeGreaterThan(0);
    expect(a.cooccurrence('t1', 't3', T0 + end + 60_000)).toBeCloseTo(w / 2, 12);
  });

  it('observeBatch learns like observe, and rejects a bad batch before learning any of it', () => {
    const events = [...session('u', ['A', 'B', 'C'], T0), ...session('me', ['A'], T0 + HOUR_MS)];
    const one = feed(new ItemKnnRecommender(), events);
    const batch = new ItemKnnRecommender();
    batch.observeBatch(events);
    expect(batch.snapshot()).toEqual(one.snapshot());
    const bad = new ItemKnnRecommender();
    expect(() => bad.observeBatch([events[0]!, { ...events[1]!, ts: Number.NaN }])).toThrow(TypeError);
    expect(bad.stats().items).toBe(0);
  });
});

describe('ItemKnnRecommender: bounds', () => {
  it('holds maxItems (LRU eviction), maxNeighbors, historySize and maxUsers', () => {
    const o = { maxItems: 20, maxNeighbors: 5, historySize: 4, maxUsers: 3, profileSize: 6 };
    const m = new ItemKnnRecommender(o);
    for (let k = 0; k < 2000; k++)
      m.observe({
        userId: `u${k % 7}`,
        trackId: `t${(k * 13) % 50}`,
        kind: k % 9 === 0 ? 'skip' : 'play',
        ts: T0 + k * MIN,
        completion: 1,
      });
    const s = m.stats();
    expect(s.items).toBeLessThanOrEqual(o.maxItems);
    expect(s.popularityItems).toBeLessThanOrEqual(o.maxItems);
    expect(s.maxNeighbors).toBeLessThanOrEqual(o.maxNeighbors);
    expect(s.maxHistory).toBeLessThanOrEqual(o.historySize);
    expect(s.maxProfile).toBeLessThanOrEqual(o.profileSize);
    expect(s.users).toBeLessThanOrEqual(o.maxUsers);
    // Evicted tracks are never recommended.
    const snap = m.snapshot() as { tracks: string[]; live: number };
    const tracked = new Set(snap.tracks.slice(0, snap.live));
    for (let u = 0; u < 7; u++)
      for (const r of m.recommend(`u${u}`, 10, T0 + 2000 * MIN))
        if (!r.reason.startsWith('popular')) expect(tracked.has(r.trackId)).toBe(true);
  });

  it('refuses out-of-range options', () => {
    const bad: ItemKnnOptions[] = [
      { maxItems: 0 },
      { maxNeighbors: 1.5 },
      { historySize: -1 },
      { halfLifeMs: 0 },
      { pruneTo: 0 },
      { proximityDecay: 1.5 },
      { alpha: 2 },
      { skipPenalty: -1 },
      { completeAt: 0.2, earlyExitAt: 0.5 },
      { weights: { skip: 1 } },
      { weights: { like: 0 } },
    ];
    for (const o of bad) expect(() => new ItemKnnRecommender(o), JSON.stringify(o)).toThrow(RangeError);
  });
});

describe('ItemKnnRecommender: snapshot / restore', () => {
  const stream: Interaction[] = [];
  for (let k = 0; k < 600; k++)
    stream.push({
      userId: `u${k % 9}`,
      trackId: `t${(k * 7) % 40}`,
      artistId: `a${k % 5}`,
      kind: k % 11 === 0 ? 'skip' : k % 13 === 0 ? 'like' : 'play',
      ts: T0 + k * MIN,
      completion: k % 11 === 0 || k % 13 === 0 ? undefined : (k % 10) / 9,
    });
  const opts = { maxItems: 25, maxNeighbors: 8 };

  it('snapshots compactly: flat arrays of numbers and strings per track and per user', () => {
    const snap = feed(new ItemKnnRecommender(opts), stream.slice(0, 300)).snapshot() as Record<
      string,
      unknown
    >;
    for (const key of ['session', 'long'] as const)
      for (const list of snap[key] as unknown[][]) for (const x of list) expect(typeof x).toBe('number');
    for (const [, ring, profile] of snap['users'] as [string, unknown[], unknown[]][])
      for (const x of [...ring, ...profile]) expect(['number', 'string']).toContain(typeof x);
    expect((snap['counts'] as unknown[]).every((x) => typeof x === 'number')).toBe(true);
  });

  it('restores to identical answers, also after evictions left dead edges, and continues identically', () => {
    const a = feed(new ItemKnnRecommender(opts), stream.slice(0, 400));
    const b = new ItemKnnRecommender(opts);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    const now = T0 + 400 * MIN;
    for (let u = 0; u < 10; u++) expect(b.recommend(`u${u}`, 10, now)).toEqual(a.recommend(`u${u}`, 10, now));
    expect(b.snapshot()).toEqual(a.snapshot());
    feed(a, stream.slice(400));
    feed(b, stream.slice(400));
    for (let u = 0; u < 10; u++)
      expect(b.recommend(`u${u}`, 10, T0 + 600 * MIN)).toEqual(a.recommend(`u${u}`, 10, T0 + 600 * MIN));
  });

  it('rejects garbage with InvalidSnapshotError and leaves the state unchanged', () => {
    const m = feed(new ItemKnnRecommender(opts), stream.slice(0, 200));
    const before = m.recommend('u1', 10, T0 + 200 * MIN);
    const good = m.snapshot() as Record<string, unknown> & {
      tracks: string[];
      live: number;
      counts: number[];
      session: number[][];
      long: number[][];
      users: [string, unknown[], unknown[]][];
    };
    const u0 = good.users[0]!;
    const bad: unknown[] = [
      undefined,
      null,
      'snapshot',
      [],
      {},
      { ...good, kind: 'popularity' },
      { ...good, version: 1 }, // the old nested format is refused, not misread
      { ...good, halfLifeMs: 1 },
      { ...good, trendHalfLifeMs: '1' },
      { ...good, longHalfLifeMs: 5 },
      { ...good, landmark: 'now' },
      { ...good, tracks: {} },
      { ...good, live: 26 }, // > maxItems
      { ...good, live: 1.5 },
      { ...good, tracks: [good.tracks[1], ...good.tracks.slice(1)] }, // repeated live track
      { ...good, tracks: [...good.tracks, 'ghost'] }, // an evicted track no edge names
      { ...good, artists: [5, ...(good['artists'] as unknown[]).slice(1)] },
      { ...good, counts: good.counts.slice(1) },
      { ...good, counts: [-1, ...good.counts.slice(1)] },
      { ...good, counts: [Number.NaN, ...good.counts.slice(1)] },
      { ...good, session: good.session.slice(1) },
      { ...good, session: [[0, 1], ...good.session.slice(1)] }, // self edge
      { ...good, session: [[999, 1], ...good.session.slice(1)] }, // no such track
      { ...good, session: [[1, 1, 1, 2], ...good.session.slice(1)] }, // repeated neighbour
      { ...good, session: [[1], ...good.session.slice(1)] }, // odd length
      { ...good, long: [Array.from({ length: 9 }, (_, k) => [k + 1, 1]).flat(), ...good.long.slice(1)] }, // > maxNeighbors
      { ...good, users: [['u1', 'history', []]] },
      { ...good, users: [[u0[0], ['t1', 0, 1, 'yesterday'], []]] },
      { ...good, users: [[u0[0], ['t1', 9, 1, 1], []]] },
      { ...good, users: [[u0[0], [], ['t1', 1, 1, 0, 1, 't1', 1, 1, 0, 1]]] }, // repeated profile track
      { ...good, users: [u0, u0] },
      { ...good, plays: [['t1', null]] },
    ];
    for (const s of bad)
      expect(() => m.restore(s), JSON.stringify(s)?.slice(0, 120)).toThrow(InvalidSnapshotError);
    expect(m.recommend('u1', 10, T0 + 200 * MIN)).toEqual(before);
  });
});

describe('kthLargest', () => {
  it('finds the k-th largest value, duplicates included', () => {
    const xs = Float64Array.from([5, 1, 9, 9, 3, 7, 7, 7, 2]);
    const sorted = [...xs].sort((a, b) => b - a);
    for (let k = 1; k <= xs.length; k++)
      expect(kthLargest(Float64Array.from(xs), xs.length, k)).toBe(sorted[k - 1]);
  });
});
