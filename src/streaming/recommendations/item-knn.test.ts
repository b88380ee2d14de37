import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random/index.ts';
import { type PackedStrings, unpackStrings } from '../snapshots/columns.ts';
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
    const snap = m.snapshot() as { tracks: PackedStrings; live: number };
    const tracked = new Set(unpackStrings(snap.tracks, 'tracks').slice(0, snap.live));
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
  /** What a snapshot file carries it through (v8.serialize / deserialize). */
  const clone = <T>(x: T): T => deserialize(serialize(x)) as T;
  type Snap = Record<string, unknown> & {
    tracks: PackedStrings;
    live: number;
    counts: Float64Array;
    session: { offsets: Uint32Array; nb: Uint32Array; w: Float64Array };
    long: { offsets: Uint32Array; nb: Uint32Array; w: Float64Array };
    users: Record<string, unknown> & {
      ids: PackedStrings;
      tracks: PackedStrings;
      ringOffsets: Uint32Array;
      ringTrack: Uint32Array;
      ringKind: Uint8Array;
      ringTs: Float64Array;
      profileOffsets: Uint32Array;
      profileTrack: Uint32Array;
      profileW: Float64Array;
    };
    plays: { tracks: PackedStrings; scores: Float64Array };
  };
  const pack = (xs: string[]): PackedStrings => ({
    text: xs.join(''),
    lengths: Uint32Array.from(xs.map((x) => x.length)),
  });

  it('snapshots as flat columns: typed arrays and packed strings, no object per track, edge or entry', () => {
    const snap = feed(new ItemKnnRecommender(opts), stream.slice(0, 300)).snapshot() as Snap;
    expect(snap.version).toBe(3);
    expect(snap.counts).toBeInstanceOf(Float64Array);
    expect(snap.counts.length).toBe(4 * snap.live);
    for (const key of ['session', 'long'] as const) {
      expect(snap[key].offsets).toBeInstanceOf(Uint32Array);
      expect(snap[key].offsets.length).toBe(snap.live + 1);
      expect(snap[key].nb.length).toBe(snap[key].w.length);
    }
    for (const v of Object.values(snap.users))
      expect(ArrayBuffer.isView(v) || typeof (v as PackedStrings).text === 'string').toBe(true);
    expect(unpackStrings(snap.users.ids, 'ids').sort()).toEqual(
      Array.from({ length: 9 }, (_, k) => `u${k}`).sort(),
    );
  });

  it('restores to identical answers, also after evictions left dead edges, and continues identically', () => {
    const a = feed(new ItemKnnRecommender(opts), stream.slice(0, 400));
    const b = new ItemKnnRecommender(opts);
    b.restore(clone(a.snapshot()));
    // Before any user is materialized, the snapshot copies the restored rows as they are.
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.stats()).toEqual(a.stats());
    const now = T0 + 400 * MIN;
    for (let u = 0; u < 10; u++) expect(b.recommend(`u${u}`, 10, now)).toEqual(a.recommend(`u${u}`, 10, now));
    expect(b.snapshot()).toEqual(a.snapshot());
    for (let u = 0; u < 10; u++) expect(b.userState(`u${u}`)).toEqual(a.userState(`u${u}`));
    feed(a, stream.slice(400));
    feed(b, stream.slice(400));
    for (let u = 0; u < 10; u++)
      expect(b.recommend(`u${u}`, 10, T0 + 600 * MIN)).toEqual(a.recommend(`u${u}`, 10, T0 + 600 * MIN));
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it('learns identically on users restored and never read (materialized by the update itself)', () => {
    const a = feed(new ItemKnnRecommender(opts), stream.slice(0, 300));
    const b = new ItemKnnRecommender(opts);
    b.restore(clone(a.snapshot()));
    const c = new ItemKnnRecommender(opts);
    c.restore(clone(b.snapshot())); // a restore of a restored, never materialized model
    for (const m of [a, b, c]) feed(m, stream.slice(300));
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(c.snapshot()).toEqual(a.snapshot());
    for (let u = 0; u < 9; u++)
      expect(c.recommend(`u${u}`, 10, T0 + 600 * MIN)).toEqual(a.recommend(`u${u}`, 10, T0 + 600 * MIN));
  });

  it('forgets a restored user never read: gone from answers, export and the next snapshot', () => {
    const a = feed(new ItemKnnRecommender(opts), stream.slice(0, 300));
    const b = new ItemKnnRecommender(opts);
    b.restore(clone(a.snapshot()));
    expect(b.forget('u3')).toBe(true);
    a.forget('u3');
    expect(b.userState('u3')).toEqual([]);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(unpackStrings((b.snapshot() as Snap).users.ids, 'ids')).not.toContain('u3');
  });

  it('rejects garbage with InvalidSnapshotError and leaves the state unchanged', () => {
    const m = feed(new ItemKnnRecommender(opts), stream.slice(0, 200));
    const before = m.recommend('u1', 10, T0 + 200 * MIN);
    const beforeSnap = m.snapshot();
    const good = clone(m.snapshot()) as Snap;
    const tracks = unpackStrings(good.tracks, 'tracks');
    const edit = <T>(x: T, f: (c: T) => void): T => {
      const c = clone(x);
      f(c);
      return c;
    };
    const bad: unknown[] = [
      undefined,
      null,
      'snapshot',
      [],
      {},
      { ...good, kind: 'popularity' },
      { ...good, version: 2 }, // the older formats are refused, not misread
      { ...good, halfLifeMs: 1 },
      { ...good, trendHalfLifeMs: '1' },
      { ...good, longHalfLifeMs: 5 },
      { ...good, landmark: 'now' },
      { ...good, tracks: {} },
      { ...good, tracks: tracks },
      { ...good, live: 26 }, // > maxItems
      { ...good, live: 1.5 },
      { ...good, tracks: pack([tracks[1]!, ...tracks.slice(1)]) }, // repeated live track
      { ...good, tracks: pack([...tracks, 'ghost']) }, // an evicted track no edge names
      { ...good, tracks: { ...good.tracks, text: good.tracks.text.slice(1) } }, // lengths past the text
      { ...good, artists: [5] },
      { ...good, counts: good.counts.slice(1) },
      { ...good, counts: Array.from(good.counts) },
      edit(good, (g) => (g.counts[0] = -1)),
      edit(good, (g) => (g.counts[3] = Number.NaN)),
      edit(good, (g) => (g.session.nb[0] = 0)), // track 0's first neighbour is itself (a self edge)
      edit(good, (g) => (g.session.nb[0] = 999)), // no such track
      edit(good, (g) => (g.session.nb[1] = g.session.nb[0]!)), // repeated neighbour
      edit(good, (g) => (g.session.w[0] = Number.POSITIVE_INFINITY)),
      edit(good, (g) => (g.long.w[0] = -2)),
      edit(good, (g) => (g.session.offsets[1] = g.session.offsets[2]! + 1)), // offsets go back
      edit(good, (g) => (g.session.offsets[g.live] = 0)),
      { ...good, session: { ...good.session, w: good.session.w.slice(1) } },
      { ...good, session: { ...good.session, offsets: new Int32Array(good.session.offsets) } },
      edit(good, (g) => {
        // > maxNeighbors in one list
        const n = g.live;
        const nb: number[] = [];
        for (let k = 0; k < 9; k++) nb.push((k + 1) % n);
        g.long = {
          offsets: Uint32Array.from({ length: n + 1 }, (_, k) => (k === 0 ? 0 : 9)),
          nb: Uint32Array.from(nb),
          w: new Float64Array(9).fill(1),
        };
      }),
      { ...good, users: { ...good.users, ringKind: new Uint8Array(good.users.ringKind.length).fill(9) } },
      edit(good, (g) => (g.users.ringTrack[0] = 9999)),
      edit(good, (g) => (g.users.ringTs[0] = Number.NaN)),
      edit(good, (g) => (g.users.profileTrack[1] = g.users.profileTrack[0]!)), // repeated profile track
      edit(good, (g) => (g.users.profileW[0] = Number.NEGATIVE_INFINITY)),
      edit(good, (g) => (g.users.ringOffsets[1] = 101)), // > historySize
      edit(good, (g) => (g.users.ringOffsets[0] = 1)),
      {
        ...good,
        users: { ...good.users, ids: pack(unpackStrings(good.users.ids, 'ids').map(() => 'u1')) },
      }, // repeated user
      { ...good, users: { ...good.users, ringWeight: undefined } },
      { ...good, plays: [['t1', 1]] },
      edit(good, (g) => (g.plays.scores[0] = Number.NaN)),
    ];
    for (const [k, s] of bad.entries()) expect(() => m.restore(s), `case ${k}`).toThrow(InvalidSnapshotError);
    expect(m.recommend('u1', 10, T0 + 200 * MIN)).toEqual(before);
    expect(m.snapshot()).toEqual(beforeSnap);
  });

  it('a fuzzed part (random bytes flipped in the serialized snapshot) is refused with the state unchanged, or restores a valid model', () => {
    const m = feed(new ItemKnnRecommender(opts), stream.slice(0, 300));
    const bytes = serialize(m.snapshot());
    const target = feed(new ItemKnnRecommender(opts), stream.slice(0, 100));
    const before = target.snapshot();
    const rnd = mulberry32(7);
    let refused = 0;
    for (let round = 0; round < 300; round++) {
      const b = Buffer.from(bytes);
      for (let f = 0; f < 1 + Math.floor(rnd() * 4); f++)
        b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      let state: unknown;
      try {
        state = deserialize(b);
      } catch {
        continue; // the processor refuses an undecodable part before any handler sees it
      }
      try {
        target.restore(state);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidSnapshotError);
        expect(target.snapshot()).toEqual(before);
        refused++;
        continue;
      }
      // Accepted (a flip inside a weight or a time): a working model that answers and learns.
      for (let u = 0; u < 9; u++) target.recommend(`u${u}`, 10, T0 + 300 * MIN);
      feed(target, stream.slice(300, 320));
      target.restore(clone(before));
    }
    expect(refused).toBeGreaterThan(10);
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
