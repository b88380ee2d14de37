import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../core/random/index.ts';
import { HyperLogLog } from '../streaming/index.ts';
import { kthSmallest } from './item-table.ts';
import { BoundedTop, TrendingIndex, type TrendingOptions } from './trending.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 0, 20, 12);
const options: TrendingOptions = {
  maxTracks: 1000,
  maxArtists: 1000,
  precision: 7,
  halfLifeFraction: 0.25,
  baselineFactor: 8,
  prior: 5,
};

interface Play {
  track: string;
  t: number;
  listener?: number;
}

function index(plays: Play[], o: Partial<TrendingOptions> = {}): TrendingIndex {
  const idx = new TrendingIndex({ ...options, ...o });
  for (const p of plays) {
    const prepared = idx.prepare(p.t, NOW);
    const slot = idx.tracks.addPlay(p.track, prepared);
    if (p.listener !== undefined) {
      const h = createHash('sha256').update(`listener-${p.listener}`).digest();
      idx.tracks.addListener(slot, prepared, h.readUInt32BE(0), h.readUInt32BE(4));
    }
  }
  return idx;
}

/** `n` plays of `track` spread evenly over [from, to). */
const spread = (track: string, n: number, from: number, to: number): Play[] =>
  Array.from({ length: n }, (_, i) => ({ track, t: from + Math.floor(((to - from) * i) / n) }));

describe('trending score', () => {
  // A steady hit: 1000 plays a day for a week. A riser: nothing, then 60 plays in the last 2 hours.
  // A fading item: big five days ago, a trickle now.
  const plays = [
    ...spread('steady-hit', 7000, NOW - 7 * DAY, NOW),
    ...spread('riser', 60, NOW - 2 * HOUR, NOW),
    ...spread('fading', 3000, NOW - 6 * DAY, NOW - 5 * DAY),
    ...spread('fading', 20, NOW - DAY, NOW),
  ].sort((a, b) => a.t - b.t);
  const idx = index(plays);

  it('a sudden riser ranks above a steadily popular item with more plays, in every window', () => {
    for (const window of ['1h', '24h', '7d'] as const) {
      const items = idx.top('track', window, 10, NOW);
      const riser = items.find((i) => i.id === 'riser')!;
      const hit = items.find((i) => i.id === 'steady-hit')!;
      expect(items[0]!.id, window).toBe('riser');
      expect(hit.plays, window).toBeGreaterThan(riser.plays);
      expect(riser.score, window).toBeGreaterThan(hit.score);
    }
  });

  it('a steady item scores about 1 whatever its volume; a fading one below it', () => {
    const items = idx.top('track', '24h', 10, NOW);
    const score = (id: string) => items.find((i) => i.id === id)!.score;
    expect(score('steady-hit')).toBeGreaterThan(0.95);
    expect(score('steady-hit')).toBeLessThan(1.05);
    expect(score('fading')).toBeLessThan(0.5);
    expect(items.map((i) => i.id)).toEqual(['riser', 'steady-hit', 'fading']);
  });

  it('counts plays per window at bucket resolution', () => {
    const items = index([
      ...spread('a', 10, NOW - 30 * MIN, NOW),
      ...spread('a', 5, NOW - 3 * HOUR, NOW - 2 * HOUR),
      ...spread('a', 7, NOW - 3 * DAY, NOW - 2 * DAY),
    ]);
    expect(items.top('track', '1h', 5, NOW)[0]!.plays).toBe(10);
    expect(items.top('track', '24h', 5, NOW)[0]!.plays).toBe(15);
    expect(items.top('track', '7d', 5, NOW)[0]!.plays).toBe(22);
    // Items with no play in the window are not listed.
    expect(index(spread('old', 5, NOW - 3 * HOUR, NOW - 2 * HOUR)).top('track', '1h', 5, NOW)).toEqual([]);
  });

  it('counts unique listeners by HyperLogLog, only for the plays given a listener', () => {
    const plays: Play[] = [];
    for (let i = 0; i < 300; i++) plays.push({ track: 'x', t: NOW - 10 * MIN + i, listener: i % 60 });
    for (let i = 0; i < 40; i++) plays.push({ track: 'x', t: NOW - 5 * MIN + i }); // anonymous plays
    const [x] = index(plays).top('track', '1h', 1, NOW);
    expect(x!.plays).toBe(340);
    expect(x!.uniqueListeners).toBeGreaterThanOrEqual(54);
    expect(x!.uniqueListeners).toBeLessThanOrEqual(66);
  });

  it('packed 4-bit registers give the streaming library HyperLogLog estimate', () => {
    const lib = new HyperLogLog(7);
    const plays: Play[] = [];
    for (let i = 0; i < 5000; i++) {
      plays.push({ track: 'y', t: NOW - 20 * MIN, listener: i });
      const h = createHash('sha256').update(`listener-${i}`).digest();
      lib.addHash(h.readUInt32BE(0), h.readUInt32BE(4));
    }
    const [y] = index(plays).top('track', '7d', 1, NOW);
    expect(y!.uniqueListeners).toBe(Math.round(lib.estimate()));
    expect(Math.abs(y!.uniqueListeners - 5000) / 5000).toBeLessThan(0.25);
  });

  it('is independent of arrival order (forward decay, landmark moves included)', () => {
    const rnd = mulberry32(11);
    const events: Play[] = Array.from({ length: 3000 }, () => ({
      track: `t${Math.floor(rnd() ** 2 * 40)}`,
      t: NOW - Math.floor(rnd() * 7 * DAY),
    }));
    const sorted = [...events].sort((a, b) => a.t - b.t);
    const shuffled = [...events].sort(() => rnd() - 0.5);
    for (const window of ['1h', '24h', '7d'] as const) {
      const a = index(sorted).top('track', window, 40, NOW);
      const b = index(shuffled).top('track', window, 40, NOW);
      expect(b.map((i) => i.id)).toEqual(a.map((i) => i.id));
      b.forEach((item, i) => expect(item.score).toBeCloseTo(a[i]!.score, 3));
    }
  });

  it('stays within maxItems and keeps the items that matter for some window', () => {
    const plays = [...spread('riser', 40, NOW - 30 * MIN, NOW)];
    for (let i = 0; i < 2000; i++) plays.push({ track: `tail-${i}`, t: NOW - 6 * DAY + i * MIN });
    plays.push(...spread('weekly-hit', 500, NOW - 7 * DAY, NOW - 2 * DAY));
    const idx = index(plays, { maxTracks: 100 });
    expect(idx.tracks.size).toBeLessThanOrEqual(150);
    expect(idx.tracks.evicted).toBeGreaterThan(1800);
    expect(idx.top('track', '1h', 1, NOW)[0]!.id).toBe('riser');
    expect(idx.top('track', '7d', 100, NOW).map((i) => i.id)).toContain('weekly-hit');
  });
});

describe('BoundedTop', () => {
  it('keeps the k best by score, then plays, then id', () => {
    const top = new BoundedTop(3);
    const offers: Array<[string, number, number]> = [
      ['a', 1, 5],
      ['b', 3, 1],
      ['c', 2, 9],
      ['d', 3, 2],
      ['e', 0.5, 100],
      ['f', 2, 9],
    ];
    for (const [id, score, plays] of offers) top.offer(id, 0, score, plays);
    expect(top.sorted().map((c) => c.id)).toEqual(['d', 'b', 'c']);
    const none = new BoundedTop(0);
    none.offer('x', 0, 1, 1);
    expect(none.sorted()).toEqual([]);
  });
});

describe('kthSmallest', () => {
  it('agrees with sorting, duplicates included', () => {
    const rnd = mulberry32(5);
    for (let n = 1; n < 200; n += 7) {
      const values = Float64Array.from({ length: n }, () => Math.floor(rnd() * 20) / 4);
      const sorted = Float64Array.from(values).sort();
      for (const k of [0, Math.floor(n / 3), n - 1])
        expect(kthSmallest(Float64Array.from(values), k)).toBe(sorted[k]);
    }
  });
});
