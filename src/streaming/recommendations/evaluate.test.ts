import { describe, expect, it } from 'vitest';
import {
  clearlyBeats,
  evaluate,
  leaveLastOut,
  RandomRecommender,
  shuffleLabels,
  type EvalCase,
  type ModelMetrics,
} from './evaluate.ts';
import { InvalidSnapshotError } from './snapshot-check.ts';
import type { Interaction, Recommendation, Recommender } from './types.ts';

const T0 = Date.UTC(2026, 0, 5);
const play = (userId: string, trackId: string, ts: number, completion = 1): Interaction => ({
  userId,
  trackId,
  kind: 'play',
  ts,
  completion,
});
const relevant = (i: Interaction): boolean => (i.completion ?? 1) >= 0.8;

/** Records what it was shown; recommends a fixed list. */
class FixedListRecommender implements Recommender {
  readonly name: string;
  readonly seen: Interaction[] = [];
  readonly asked: { userId: string; now: number; seenSoFar: number }[] = [];
  readonly #list: string[];
  constructor(name: string, list: string[]) {
    this.name = name;
    this.#list = list;
  }
  observe(i: Interaction): void {
    this.seen.push(i);
  }
  recommend(userId: string, limit: number, now: number): Recommendation[] {
    this.asked.push({ userId, now, seenSoFar: this.seen.length });
    return this.#list.slice(0, limit).map((trackId) => ({ trackId, score: 1, reason: 'fixed list' }));
  }
  snapshot(): unknown {
    return null;
  }
  restore(): void {}
}

describe('leaveLastOut', () => {
  it('holds out the last N relevant first listens; the cutoff is the first of them', () => {
    const events = [
      play('u', 'a', T0),
      play('u', 'b', T0 + 1),
      play('u', 'a', T0 + 2), // a replay: not a first listen
      play('u', 'c', T0 + 3, 0.3), // not relevant
      play('u', 'd', T0 + 4),
      play('u', 'e', T0 + 5),
      play('v', 'a', T0 + 6), // v has too few relevant plays
    ];
    const cases = leaveLastOut(events, { holdout: 2, minTrainEvents: 1, isRelevant: relevant });
    expect(cases).toEqual([{ userId: 'u', cutoffTs: T0 + 4, heldOut: ['d', 'e'], trainEvents: 4 }]);
    expect(leaveLastOut(events, { holdout: 2, minTrainEvents: 5, isRelevant: relevant })).toEqual([]);
  });
});

describe('evaluate', () => {
  const events = [
    play('u', 'a', T0),
    play('x', 'z', T0 + 1),
    play('u', 'b', T0 + 2),
    play('x', 'y', T0 + 3),
    play('u', 'c', T0 + 4),
    play('x', 'w', T0 + 5),
  ];
  const cases: EvalCase[] = [{ userId: 'u', cutoffTs: T0 + 2, heldOut: ['b', 'c'], trainEvents: 1 }];

  it('asks at the cutoff having shown only the past, withholds the user’s own tail, and scores hits', () => {
    const oracle = new FixedListRecommender('oracle', ['b', 'q', 'c']);
    const miss = new FixedListRecommender('miss', ['q', 'r']);
    const r = evaluate(events, cases, [oracle, miss], 10);
    expect(oracle.asked).toEqual([{ userId: 'u', now: T0 + 2, seenSoFar: 2 }]);
    expect(oracle.seen.map((i) => `${i.userId}:${i.trackId}`)).toEqual(['u:a', 'x:z', 'x:y', 'x:w']); // u's b and c never learned
    expect(r.events).toBe(4);
    expect(r.users).toBe(1);
    expect(r.catalog).toBe(6);
    const o = r.models[0]!;
    expect(o.hitRate).toBe(1);
    expect(o.precision).toBeCloseTo(2 / 10, 12);
    expect(o.recall).toBe(1);
    expect(o.coverage).toBeCloseTo(3 / 6, 12);
    expect(r.models[1]).toMatchObject({ model: 'miss', hitRate: 0, precision: 0, recall: 0 });
  });

  it('clearlyBeats needs both the ratio and the absolute margin', () => {
    const m = (hitRate: number): ModelMetrics => ({
      model: 'm',
      hitRate,
      precision: 0,
      recall: 0,
      coverage: 0,
      observeMs: 0,
      recommendMs: 0,
    });
    expect(clearlyBeats(m(0.6), m(0.3))).toBe(true);
    expect(clearlyBeats(m(0.12), m(0.05))).toBe(false); // 2.4× but only +0.07
    expect(clearlyBeats(m(0.7), m(0.5))).toBe(false); // +0.2 but 1.4×
  });

  it('shuffleLabels replaces held-out tracks by unheard catalog tracks, deterministically', () => {
    const a = shuffleLabels(cases, events, 1);
    expect(a).toEqual(shuffleLabels(cases, events, 1));
    expect(a[0]!.heldOut).toHaveLength(2);
    expect(a[0]!.heldOut).not.toContain('a'); // heard before the cutoff
    expect(a[0]!.cutoffTs).toBe(cases[0]!.cutoffTs);
  });
});

describe('RandomRecommender', () => {
  it('picks unheard tracks, deterministically per seed, and round-trips its state', () => {
    const make = (): RandomRecommender => {
      const r = new RandomRecommender(5);
      for (let k = 0; k < 30; k++) r.observe(play(`u${k % 3}`, `t${k}`, T0 + k));
      return r;
    };
    const a = make();
    const recs = a.recommend('u0', 5, T0);
    expect(recs).toHaveLength(5);
    expect(new Set(recs.map((x) => x.trackId)).size).toBe(5);
    for (const x of recs) expect(Number(x.trackId.slice(1)) % 3).not.toBe(0); // u0 heard t0, t3, …
    expect(make().recommend('u0', 5, T0)).toEqual(recs);
    const b = new RandomRecommender(99);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(b.recommend('u1', 5, T0)).toEqual(a.recommend('u1', 5, T0));
    expect(() => b.restore({ kind: 'random', version: 1, state: 'x' })).toThrow(InvalidSnapshotError);
  });
});
