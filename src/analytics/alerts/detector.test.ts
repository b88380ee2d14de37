import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/random/index.ts';
import { AnomalyDetector, DETECTOR_DEFAULTS, detectorFor, type Observation } from './detector.ts';

/** Seeded normal noise around `mean`. */
function noise(seed: number, mean: number, sd: number): () => number {
  const rng = mulberry32(seed);
  return () => mean + sd * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function feed(d: AnomalyDetector, n: number, next: () => number): Observation[] {
  return Array.from({ length: n }, () => d.observe(next()));
}

const opens = (obs: Observation[]) => obs.filter((o) => o.change === 'open').length;

describe('AnomalyDetector', () => {
  it('stays quiet during warm-up and on long stretches of noise', () => {
    const d = new AnomalyDetector({ minChange: 5 });
    const next = noise(1, 100, 3);
    const warm = feed(d, DETECTOR_DEFAULTS.warmupPoints, next);
    expect(warm.every((o) => !o.anomalous && o.z === 0)).toBe(true);
    const rest = feed(d, 20_000, next);
    expect(opens(rest)).toBe(0);
    const last = rest.at(-1)!;
    expect(last.level).toBeCloseTo(100, 0);
    expect(last.sigma).toBeGreaterThan(2.4);
    expect(last.sigma).toBeLessThan(3.6);
  });

  it('a spike opens after confirmPoints samples in a row and resolves after resolvePoints calm ones', () => {
    const d = new AnomalyDetector({ minChange: 5 });
    const next = noise(2, 100, 3);
    feed(d, 1000, next);
    const spike = [d.observe(140), d.observe(141), d.observe(139)];
    expect(spike.map((o) => o.change)).toEqual([undefined, undefined, 'open']);
    expect(spike[2]!.z).toBeGreaterThan(DETECTOR_DEFAULTS.threshold);
    // Still well out (but under the open threshold): hysteresis keeps it open.
    for (let i = 0; i < 20; i++) expect(d.observe(100 + 3 * 3).anomalous).toBe(true);
    const calm = feed(d, DETECTOR_DEFAULTS.resolvePoints, () => 100);
    expect(calm.map((o) => o.change ?? '')).toEqual(['', '', '', '', 'resolve']);
    expect(d.anomalous).toBe(false);
  });

  it('one-sample outliers and a run broken by a normal sample do not open', () => {
    const d = new AnomalyDetector({ minChange: 20 });
    const next = noise(3, 100, 3);
    feed(d, 1000, next);
    const obs = [
      d.observe(200),
      d.observe(100),
      d.observe(200),
      d.observe(200),
      d.observe(100),
      d.observe(60),
      d.observe(160),
    ];
    expect(opens(obs)).toBe(0);
  });

  it('the gate: a flat series that creeps by one never alarms, a jump above the gate does', () => {
    const d = detectorFor('dlq_size');
    let count = 10;
    const obs = feed(d, 20_000, () => count);
    for (let i = 0; i < 30; i++) obs.push(...feed(d, 400, () => count), d.observe(++count));
    expect(opens(obs)).toBe(0);
    const jump = feed(d, 5, () => count + 25);
    expect(opens(jump)).toBe(1);
  });

  it('a slow drift runs away from the winsorized baseline and opens before it peaks', () => {
    const d = new AnomalyDetector({ minChange: 10 });
    const next = noise(4, 200, 5);
    feed(d, 5000, next);
    // +40 σ over 15 minutes: 0.044 σ per sample, far faster than the baseline may follow.
    const ramp = Array.from({ length: 900 }, (_, i) => d.observe(next() + (200 * i) / 900));
    const at = ramp.findIndex((o) => o.change === 'open');
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(600);
  });

  it('the sustained rule: a shift too small for the point rule opens once the mean residual holds it', () => {
    const d = new AnomalyDetector({ minChange: 5 });
    const next = noise(7, 100, 3);
    feed(d, 2000, next);
    // +3 σ: under the point threshold (4.5 σ), over the gate (5) and 2 σ̂ once averaged.
    const obs = feed(d, 200, () => next() + 9);
    const at = obs.findIndex((o) => o.change === 'open');
    expect(at).toBeGreaterThan(10);
    expect(at).toBeLessThan(120);
    // Without the sustained rule the point rule alone misses it.
    const pointOnly = new AnomalyDetector({ minChange: 5, sustainThreshold: Infinity });
    const again = noise(7, 100, 3);
    feed(pointOnly, 2000, again);
    expect(opens(feed(pointOnly, 200, () => again() + 9))).toBe(0);
  });

  it('a level shift that lasts becomes the new normal after adoptAfterPoints', () => {
    const d = new AnomalyDetector({ minChange: 10, adoptAfterPoints: 600 });
    const next = noise(5, 100, 3);
    feed(d, 2000, next);
    const shifted = feed(d, 700, () => next() + 60);
    expect(opens(shifted)).toBe(1);
    const resolvedAt = shifted.findIndex((o) => o.change === 'resolve');
    expect(resolvedAt).toBeGreaterThanOrEqual(600);
    expect(shifted[resolvedAt]!.level).toBeGreaterThan(150);
    expect(opens(feed(d, 3000, () => next() + 60))).toBe(0);
  });

  it('ignores unknown samples', () => {
    const d = new AnomalyDetector();
    feed(d, 500, noise(6, 10, 1));
    const before = d.observe(10);
    const o = d.observe(NaN);
    expect(o).toMatchObject({ anomalous: false, z: 0, level: before.level });
  });

  it('refuses inconsistent options', () => {
    expect(() => new AnomalyDetector({ threshold: 2, resolveThreshold: 2 })).toThrow(RangeError);
    expect(() => new AnomalyDetector({ confirmPoints: 0 })).toThrow(RangeError);
  });
});
