/**
 * Seeded synthetic performance series for the anomaly evaluation (`npm run eval`,
 * test/ml/anomaly.test.ts; README.md here). One sample per second, like the service:
 * day 1 is clean (training for the baselines, warm-up for the detector), day 2 holds
 * labelled anomalies. What is normal, per metric, is what a naive detector trips on:
 * a daily cycle (night ≈ a third of the peak), slow growth, metric-shaped noise
 * (Poisson counts, a slowly wandering gauge, log-normal latency with one-sample GC
 * outliers, binomial error counts, lag bursts, a dead-letter count that creeps by one).
 * Anomalies are what an operator wants paged for: spikes (3–20 s), level shifts
 * (1–10 min, then back) and slow drifts (a 10–20 min ramp, then a plateau and back).
 * Each is planted at 1.5× the metric's minimum change (DETECTOR_PRESETS) or more: the
 * gate is part of the contract, changes below it are not anomalies by definition.
 */
import { mulberry32 } from '../../core/random/index.ts';
import { DETECTOR_PRESETS } from './detector.ts';
import { METRIC_NAMES, type MetricName } from './rules.ts';

export type AnomalyKind = 'spike' | 'shift' | 'drift';

/** A planted anomaly: samples [start, end) deviate; a drift ramps over [start, peak). */
export interface LabelledAnomaly {
  kind: AnomalyKind;
  start: number;
  end: number;
  peak: number;
}

export interface SyntheticSeries {
  metric: MetricName;
  values: Float64Array;
  /** First sample of the test part (day 2); before it the series is clean. */
  testStart: number;
  anomalies: LabelledAnomaly[];
}

export interface SyntheticOptions {
  seed: number;
  /** Series per metric. */
  seriesPerMetric: number;
  /** Samples per day (one per second: 86,400). */
  dayPoints: number;
  /** Mean gap between anomalies in the test day, in samples. */
  anomalyEvery: number;
  /** false → no anomalies at all (the false-alarm control). */
  inject: boolean;
  metrics: readonly MetricName[];
}

export const SYNTH_DEFAULTS: Readonly<Omit<SyntheticOptions, 'seed'>> = Object.freeze({
  seriesPerMetric: 3,
  dayPoints: 86_400,
  anomalyEvery: 3_000,
  inject: true,
  metrics: METRIC_NAMES,
});

type Rng = () => number;

function gauss(rng: Rng): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function poisson(rng: Rng, lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gauss(rng)));
  const l = Math.exp(-lambda);
  let k = 0;
  for (let p = rng(); p > l; p *= rng()) k++;
  return k;
}

const between = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();

/** How a metric looks when nothing is wrong, and how its anomalies look. */
interface Profile {
  /** Normal value at sample t given the daily load factor (0.33–1) — noise included. */
  normal(t: number, load: number, rng: Rng): number;
  /** The deviation an anomaly of this kind adds at full strength, given the normal value. */
  anomaly(kind: AnomalyKind, normal: number, strength: number, dir: number): number;
  kinds: readonly AnomalyKind[];
  /** Direction of anomalies: +1 up, −1 down, 0 either. */
  direction: number;
}

function profileFor(metric: MetricName, rng: Rng): Profile {
  switch (metric) {
    case 'connections': {
      // A gauge that wanders around the daily curve (sessions of minutes: AR(1), ρ = 0.995).
      const base = between(rng, 1000, 4000);
      let wander = 0;
      return {
        normal: (_t, load) => {
          const level = base * load;
          wander = 0.995 * wander + 0.1 * Math.sqrt(level) * gauss(rng);
          return Math.max(0, Math.round(level + wander));
        },
        // A node lost (drop), a reconnect storm (spike up), a client reconnect loop (drift up).
        anomaly: (kind, v, s, dir) =>
          dir * v * (kind === 'spike' ? 0.5 + 0.5 * s : kind === 'shift' ? 0.25 + 0.35 * s : 0.4 + 0.4 * s),
        kinds: ['spike', 'shift', 'drift'],
        direction: 0,
      };
    }
    case 'events_per_second': {
      const base = between(rng, 150, 800);
      return {
        normal: (_t, load) => poisson(rng, base * load),
        anomaly: (kind, v, s, dir) =>
          dir > 0
            ? v * (kind === 'spike' ? 1.5 + 1.5 * s : 0.8 + 0.8 * s)
            : -v * (kind === 'spike' ? 0.7 + 0.3 * s : 0.5 + 0.4 * s),
        kinds: ['spike', 'shift', 'drift'],
        direction: 0,
      };
    }
    case 'http_p99_ms': {
      const base = between(rng, 25, 80);
      return {
        // Latency rises with load; log-normal noise; one-sample GC pauses (0.3 %) are normal.
        normal: (_t, load) => {
          const v = base * (0.8 + 0.4 * load) * Math.exp(0.12 * gauss(rng));
          return rng() < 0.003 ? v * between(rng, 2, 4) : v;
        },
        anomaly: (kind, v, s) =>
          v * (kind === 'spike' ? 2 + 3 * s : kind === 'shift' ? 0.9 + 1.1 * s : 1 + 1.5 * s),
        kinds: ['spike', 'shift', 'drift'],
        direction: 1,
      };
    }
    case 'http_error_rate': {
      const rps = between(rng, 100, 400);
      const p = between(rng, 0.0005, 0.004);
      return {
        normal: (_t, load) => {
          const n = Math.max(1, poisson(rng, rps * load));
          return poisson(rng, n * p) / n;
        },
        anomaly: (kind, _v, s) =>
          kind === 'spike' ? 0.05 + 0.25 * s : kind === 'shift' ? 0.03 + 0.07 * s : 0.05 + 0.1 * s,
        kinds: ['spike', 'shift', 'drift'],
        direction: 1,
      };
    }
    case 'event_lag': {
      // Mostly drained; commit batches leave a small backlog, bursts of up to a few hundred.
      let burst = 0;
      return {
        normal: (_t, load) => {
          if (burst > 0) burst = Math.max(0, burst - between(rng, 50, 150));
          else if (rng() < 0.01) burst = between(rng, 100, 400) * load;
          return Math.max(0, Math.round(20 * load + burst + 10 * gauss(rng)));
        },
        // A paused consumer (spike), a slow partition (shift), a consumer slower than producers (drift).
        anomaly: (kind, _v, s) =>
          kind === 'spike' ? 2000 + 8000 * s : kind === 'shift' ? 1500 + 3500 * s : 3000 + 12000 * s,
        kinds: ['spike', 'shift', 'drift'],
        direction: 1,
      };
    }
    case 'dlq_size': {
      // A count that creeps up by one now and then (a bad event an hour).
      let count = Math.floor(between(rng, 0, 50));
      return {
        normal: () => (rng() < 1 / 3600 ? ++count : count),
        // A poison batch (shift) or a steady trickle of poison messages (drift).
        anomaly: (kind, _v, s) => (kind === 'shift' ? 20 + 180 * s : 30 + 120 * s),
        kinds: ['shift', 'drift'],
        direction: 1,
      };
    }
  }
}

/** Daily load: 1 at the peak, about a third at night, with 3 %/day growth. */
function loadAt(t: number, dayPoints: number, phase: number): number {
  const day = t / dayPoints;
  const cycle = 0.5 - 0.5 * Math.cos(2 * Math.PI * (day + phase));
  return (0.33 + 0.67 * cycle) * (1 + 0.03 * day);
}

function plant(
  rng: Rng,
  profile: Profile,
  testStart: number,
  length: number,
  every: number,
): LabelledAnomaly[] {
  const out: LabelledAnomaly[] = [];
  let t = testStart + Math.floor(between(rng, 300, every));
  while (t < length - 3_000) {
    const kind = profile.kinds[Math.floor(rng() * profile.kinds.length)]!;
    const dur =
      kind === 'spike'
        ? Math.floor(between(rng, 3, 21))
        : kind === 'shift'
          ? Math.floor(between(rng, 60, 601))
          : 0;
    if (kind === 'drift') {
      const ramp = Math.floor(between(rng, 600, 1201));
      const plateau = Math.floor(between(rng, 60, 301));
      out.push({ kind, start: t, peak: t + ramp, end: t + ramp + plateau });
    } else {
      out.push({ kind, start: t, peak: t, end: t + dur });
    }
    // Gaps of at least 20 min between anomalies, so each is scored on its own.
    t = out.at(-1)!.end + 1_200 + Math.floor(between(rng, 0, 2 * every));
  }
  return out;
}

/** An anomaly's full deviation, raised to 1.5× the metric's gate where it would fall short. */
function atLeastGate(metric: MetricName, normal: number, deviation: number): number {
  const { minChange = 0, minRelChange = 0 } = DETECTOR_PRESETS[metric];
  const floor = 1.5 * Math.max(minChange, minRelChange * normal);
  return Math.sign(deviation) * Math.max(Math.abs(deviation), floor);
}

/** Seeded series with labelled anomalies in the second day (see the module comment). */
export function generateSeries(init: Partial<SyntheticOptions> & { seed: number }): SyntheticSeries[] {
  const o: SyntheticOptions = { ...SYNTH_DEFAULTS, ...init };
  const out: SyntheticSeries[] = [];
  let k = 0;
  for (const metric of o.metrics) {
    for (let i = 0; i < o.seriesPerMetric; i++) {
      const rng = mulberry32((o.seed * 7919 + ++k * 104_729) >>> 0);
      const profile = profileFor(metric, rng);
      const length = 2 * o.dayPoints;
      const testStart = o.dayPoints;
      const phase = rng();
      const anomalies = o.inject ? plant(rng, profile, testStart, length, o.anomalyEvery) : [];
      const effects = anomalies.map((a) => ({
        a,
        strength: rng(),
        dir: profile.direction || (rng() < 0.5 ? -1 : 1),
      }));
      const values = new Float64Array(length);
      let next = 0;
      for (let t = 0; t < length; t++) {
        let v = profile.normal(t, loadAt(t, o.dayPoints, phase), rng);
        while (next < effects.length && effects[next]!.a.end <= t) next++;
        const e = effects[next];
        if (e && t >= e.a.start) {
          const full = atLeastGate(metric, v, profile.anomaly(e.a.kind, v, e.strength, e.dir));
          const ramp = e.a.kind === 'drift' ? Math.min(1, (t - e.a.start + 1) / (e.a.peak - e.a.start)) : 1;
          v = Math.max(0, v + full * ramp);
        }
        values[t] = metric === 'http_error_rate' ? Math.min(1, v) : v;
      }
      out.push({ metric, values, testStart, anomalies });
    }
  }
  return out;
}
