import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateListening, mulberry32 } from './synthetic.ts';

const small = { users: 60, days: 7, genres: 4, artistsPerGenre: 4, tracksPerArtist: 6 };

describe('mulberry32', () => {
  it('is deterministic per seed, in [0, 1), and roughly uniform', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(mulberry32(8)()).not.toBe(mulberry32(7)());
  });
});

describe('generateListening', () => {
  afterEach(() => vi.restoreAllMocks());

  it('is fully determined by the seed and never calls Math.random', () => {
    const spy = vi.spyOn(Math, 'random');
    const a = generateListening({ ...small, seed: 3 });
    const b = generateListening({ ...small, seed: 3 });
    expect(b.interactions).toEqual(a.interactions);
    expect(b.users).toEqual(a.users);
    expect(generateListening({ ...small, seed: 4 }).interactions).not.toEqual(a.interactions);
    expect(spy).not.toHaveBeenCalled();
  });

  it('emits a time-ordered stream over the catalog, within the period', () => {
    const d = generateListening({ ...small, seed: 1 });
    const start = d.options.startTs;
    const end = start + (small.days + 1) * 86_400_000;
    const ids = new Set(d.tracks.map((t) => t.trackId));
    expect(d.tracks).toHaveLength(4 * 4 * 6);
    for (let k = 0; k < d.interactions.length; k++) {
      const i = d.interactions[k]!;
      expect(ids.has(i.trackId)).toBe(true);
      expect(i.ts >= start && i.ts < end).toBe(true);
      if (k > 0) expect(i.ts).toBeGreaterThanOrEqual(d.interactions[k - 1]!.ts);
      if (i.kind === 'play') expect(i.completion! >= 0 && i.completion! <= 1).toBe(true);
    }
    // Nothing is played before its release.
    const release = new Map(d.tracks.map((t) => [t.trackId, start + t.releaseDay * 86_400_000]));
    expect(d.interactions.every((i) => i.ts >= release.get(i.trackId)!)).toBe(true);
  });

  it('plants tastes: in-taste tracks dominate, finish more often, and take most likes; skips are mostly out of taste', () => {
    const d = generateListening({ seed: 2, users: 200, days: 10 });
    let inPlays = 0;
    let outPlays = 0;
    let inCompletion = 0;
    let outCompletion = 0;
    let inSkips = 0;
    let outSkips = 0;
    let inLikes = 0;
    let likes = 0;
    for (const i of d.interactions) {
      const fit = d.inTaste(i.userId, i.trackId);
      if (i.kind === 'play' && fit) {
        inPlays++;
        inCompletion += i.completion!;
      } else if (i.kind === 'play') {
        outPlays++;
        outCompletion += i.completion!;
      } else if (i.kind === 'skip') {
        if (fit) inSkips++;
        else outSkips++;
      } else {
        likes++;
        if (fit) inLikes++;
      }
    }
    expect(inPlays).toBeGreaterThan(4 * outPlays);
    expect(inCompletion / inPlays).toBeGreaterThan(0.8);
    expect(outCompletion / outPlays).toBeLessThan(0.45);
    expect(outSkips).toBeGreaterThan(2 * inSkips);
    expect(inLikes).toBe(likes);
    for (const u of d.users) {
      expect(u.tastes.length === 1 || u.tastes.length === 2).toBe(true);
      expect(u.tastes.reduce((s, t) => s + t.weight, 0)).toBeCloseTo(1, 9);
    }
  });
});
