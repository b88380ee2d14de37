import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS } from './decay.ts';
import { DecayedPopularity, PopularityRecommender } from './popularity.ts';
import { InvalidSnapshotError } from './snapshot-check.ts';
import type { Interaction } from './types.ts';

const T0 = Date.UTC(2026, 0, 5);
const play = (userId: string, trackId: string, ts: number): Interaction => ({
  userId,
  trackId,
  kind: 'play',
  ts,
  completion: 1,
});

describe('DecayedPopularity', () => {
  it('keeps its top list exact under any stream, with evictions (against a brute-force sort)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 30 }),
            fc.integer({ min: 0, max: 20 * DAY_MS }),
            fc.double({ min: 0.1, max: 3, noNaN: true }),
          ),
          { maxLength: 300 },
        ),
        fc.integer({ min: 3, max: 25 }),
        fc.integer({ min: 1, max: 10 }),
        (adds, maxItems, topSize) => {
          const p = new DecayedPopularity(DAY_MS, maxItems, topSize);
          for (const [t, dt, w] of adds) p.add(`t${t}`, w, T0 + dt);
          const all = p.snapshot();
          expect(all.length).toBeLessThanOrEqual(maxItems);
          const brute = [...all]
            .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
            .slice(0, topSize)
            .map(([id]) => id);
          expect(p.top()).toEqual(brute);
        },
      ),
    );
  });

  it('ranks by decayed count: fewer recent plays beat more old plays', () => {
    const p = new DecayedPopularity(DAY_MS, 100, 10);
    for (let k = 0; k < 6; k++) p.add('old', 1, T0);
    for (let k = 0; k < 2; k++) p.add('new', 1, T0 + 3 * DAY_MS); // 6/8 < 2
    expect(p.top()).toEqual(['new', 'old']);
    expect(p.scoreAt('old', T0 + 3 * DAY_MS)).toBeCloseTo(0.75, 9);
    expect(p.scoreAt('missing', T0)).toBe(0);
  });
});

describe('PopularityRecommender', () => {
  it('recommends decayed-popular tracks, excluding what the user played or skipped; ties by trackId', () => {
    const m = new PopularityRecommender();
    for (const [u, t] of [
      ['a', 'x'],
      ['b', 'x'],
      ['c', 'x'],
      ['a', 'y'],
      ['b', 'y'],
      ['a', 'z'],
      ['b', 'w'],
    ] as const)
      m.observe(play(u, t, T0));
    m.observe({ userId: 'me', trackId: 'y', kind: 'skip', ts: T0 });
    const recs = m.recommend('me', 10, T0);
    expect(recs.map((r) => r.trackId)).toEqual(['x', 'w', 'z']); // y skipped; w and z tie → by id
    expect(recs.every((r) => r.reason === 'popular now')).toBe(true);
    expect(recs[0]?.score).toBeCloseTo(3, 9);
    expect(m.recommend('me', 1, T0).map((r) => r.trackId)).toEqual(['x']);
    expect(m.recommend('me', 0, T0)).toEqual([]);
    // A user who heard x gets it excluded.
    expect(m.recommend('a', 10, T0).map((r) => r.trackId)).toEqual(['w']);
  });

  it('only plays count (likes, adds and skips do not make a track popular)', () => {
    const m = new PopularityRecommender();
    m.observe(play('a', 'p', T0));
    for (const kind of ['like', 'add', 'skip'] as const)
      for (let k = 0; k < 5; k++) m.observe({ userId: `u${k}`, trackId: 'q', kind, ts: T0 });
    expect(m.recommend('z', 10, T0).map((r) => r.trackId)).toEqual(['p']);
  });

  it('refuses bad limits and malformed interactions', () => {
    const m = new PopularityRecommender();
    expect(() => m.recommend('u', -1, T0)).toThrow(RangeError);
    expect(() => m.recommend('u', 1.5, T0)).toThrow(RangeError);
    expect(() => m.observe({ userId: 'u', trackId: 't', kind: 'pause' as 'play', ts: T0 })).toThrow(
      TypeError,
    );
    expect(() => m.observe({ userId: '', trackId: 't', kind: 'play', ts: T0 })).toThrow(TypeError);
    expect(() => m.observe({ userId: 'u', trackId: 't', kind: 'play', ts: Number.NaN })).toThrow(TypeError);
    expect(() => m.observe({ userId: 'u', trackId: 't', kind: 'play', ts: T0, completion: 1.5 })).toThrow(
      TypeError,
    );
  });

  it('snapshot → JSON → restore answers identically', () => {
    const m = new PopularityRecommender({ maxItems: 5, historySize: 3 });
    for (let k = 0; k < 60; k++) m.observe(play(`u${k % 7}`, `t${(k * 5) % 11}`, T0 + k * 60_000));
    const copy = new PopularityRecommender({ maxItems: 5, historySize: 3 });
    copy.restore(JSON.parse(JSON.stringify(m.snapshot())));
    for (let u = 0; u < 8; u++)
      expect(copy.recommend(`u${u}`, 5, T0 + DAY_MS)).toEqual(m.recommend(`u${u}`, 5, T0 + DAY_MS));
    expect(copy.stats()).toEqual(m.stats());
  });

  it('restore rejects garbage and leaves the state unchanged', () => {
    const m = new PopularityRecommender({ maxItems: 3 });
    m.observe(play('u', 'a', T0));
    m.observe(play('v', 'b', T0));
    const before = m.recommend('w', 10, T0);
    const good = m.snapshot() as Record<string, unknown>;
    const bad: unknown[] = [
      null,
      42,
      'x',
      [],
      {},
      { ...good, kind: 'item-knn' },
      { ...good, version: 2 },
      { ...good, halfLifeMs: DAY_MS },
      { ...good, plays: 'nope' },
      { ...good, plays: [['a', 'NaN']] },
      {
        ...good,
        plays: [
          ['a', 1],
          ['a', 2],
        ],
      },
      {
        ...good,
        plays: [
          ['a', 1],
          ['b', 1],
          ['c', 1],
          ['d', 1],
        ],
      }, // more than maxItems
      { ...good, users: [['u', [['a', 9, 0, T0]]]] }, // bad kind code
      { ...good, users: [['u', [['a', 0, 0]]]] },
      { ...good, users: [['', []]] },
    ];
    for (const s of bad) expect(() => m.restore(s), JSON.stringify(s)).toThrow(InvalidSnapshotError);
    expect(m.recommend('w', 10, T0)).toEqual(before);
  });
});
