/**
 * The anomaly detector (README.md here): one per metric, fed one sample per interval.
 * Pure and synchronous: no clock, no I/O.
 * - Baseline: an EWMA of the level and an EWMA of the absolute deviation
 *   (σ̂ = 1.25 · mean absolute deviation, σ for normal noise), both fed the residual
 *   winsorized at `clamp · σ̂`, so an outlier moves them a bounded amount and the level
 *   can follow at most `α · clamp · σ̂` per sample: a drift faster than that runs away.
 * - Gate: no anomaly opens on a deviation under `max(minChange, minRelChange · |level|)`.
 * - Open (point rule): `|z| > threshold` on `confirmPoints` samples in a row, same side.
 * - Open (sustained rule, an EWMA control chart): the mean residual of the last
 *   `sustainSpan` samples beyond `sustainThreshold · σ̂` — small shifts and drifts.
 * - Resolve (hysteresis): `resolvePoints` calm samples in a row — within
 *   `resolveThreshold · σ̂`, under half the gate, or back across the baseline. While open
 *   the level follows at `openTracking` of its speed and σ̂ is frozen; after
 *   `adoptAfterPoints` the new level is the normal (adopted) and the anomaly resolves.
 */
import type { MetricName } from './rules.ts';

export interface DetectorOptions {
  /** Samples before any anomaly can open (the baseline converges meanwhile). */
  warmupPoints: number;
  /** EWMA span of the level, in samples (α = 2 / (span + 1)). */
  levelSpan: number;
  /** EWMA span of the mean absolute deviation, in samples. */
  scaleSpan: number;
  /** Open when z (in σ̂) exceeds this… */
  threshold: number;
  /** …on this many consecutive samples, all on the same side. */
  confirmPoints: number;
  /** Resolve when z stays under this (hysteresis, < threshold)… */
  resolveThreshold: number;
  /** …for this many consecutive samples. */
  resolvePoints: number;
  /** Smallest absolute deviation that can open an anomaly (flat series never alarm on noise). */
  minChange: number;
  /** Smallest deviation relative to the level (0.2 = 20 %); the gate is the larger of the two. */
  minRelChange: number;
  /** Updates are winsorized at this many σ̂ (or the gate, if larger). */
  clamp: number;
  /** An anomaly open this long is the new normal: the baseline adopts it and it resolves. */
  adoptAfterPoints: number;
  /** While open, the level follows at this fraction of its speed (slow change goes on). */
  openTracking: number;
  /** EWMA span of the residual for the sustained rule, in samples. */
  sustainSpan: number;
  /** The sustained rule opens when that mean residual exceeds this many σ̂ (and the gate); Infinity: off. */
  sustainThreshold: number;
}

export const DETECTOR_DEFAULTS: Readonly<DetectorOptions> = Object.freeze({
  warmupPoints: 300,
  levelSpan: 900,
  scaleSpan: 3600,
  threshold: 4.5,
  confirmPoints: 3,
  resolveThreshold: 2,
  resolvePoints: 5,
  minChange: 0,
  minRelChange: 0,
  clamp: 2,
  adoptAfterPoints: 1800,
  openTracking: 1 / 3,
  sustainSpan: 60,
  sustainThreshold: 2,
});

/** What one sample did. `change` is set on the sample that opened or resolved an anomaly. */
export interface Observation {
  anomalous: boolean;
  change?: 'open' | 'resolve';
  /** Deviation from the baseline in σ̂ (signed); 0 during warm-up. */
  z: number;
  level: number;
  /** σ̂ (1.25 × the mean absolute deviation). */
  sigma: number;
}

/** Mean absolute deviation → σ for normal noise (√(π/2)). */
const MAD_TO_SIGMA = 1.2533;

export class AnomalyDetector {
  readonly options: Readonly<DetectorOptions>;
  readonly #alpha: number;
  readonly #beta: number;
  readonly #delta: number;
  #n = 0;
  #level = 0;
  #mad = 0;
  #open = false;
  #openFor = 0;
  #openSign = 0;
  #streak = 0;
  #streakSign = 0;
  /** EWMA of the residual (span sustainSpan): the sustained rule. */
  #mean = 0;
  #calm = 0;
  /** Fast EWMA of the values while open: what the baseline adopts. */
  #recent = 0;

  constructor(options: Partial<DetectorOptions> = {}) {
    this.options = Object.freeze({ ...DETECTOR_DEFAULTS, ...options });
    const o = this.options;
    if (
      !(o.threshold > o.resolveThreshold) ||
      o.confirmPoints < 1 ||
      o.resolvePoints < 1 ||
      o.levelSpan < 1 ||
      o.scaleSpan < 1
    ) {
      throw new RangeError(
        'detector options: need threshold > resolveThreshold, confirmPoints, resolvePoints, spans ≥ 1',
      );
    }
    this.#alpha = 2 / (o.levelSpan + 1);
    this.#beta = 2 / (o.scaleSpan + 1);
    this.#delta = 2 / (o.sustainSpan + 1);
  }

  get anomalous(): boolean {
    return this.#open;
  }

  /** Feeds one sample; non-finite values are ignored (an unknown sample says nothing). */
  observe(x: number): Observation {
    const o = this.options;
    if (!Number.isFinite(x)) return this.#result(0);
    this.#n++;
    if (this.#n === 1) {
      this.#level = x;
      return this.#result(0);
    }
    const r = x - this.#level;
    const dev = Math.abs(r);
    const sigma = this.#sigma();
    const gate = Math.max(o.minChange, o.minRelChange * Math.abs(this.#level));
    const z = sigma > 0 ? r / sigma : r === 0 ? 0 : Math.sign(r) * Infinity;

    if (this.#n <= o.warmupPoints) {
      // Warm-up: running means first (1/n), then the EWMAs; no clamping yet (σ̂ is not known).
      this.#level += Math.max(this.#alpha, 1 / this.#n) * r;
      this.#mad += Math.max(this.#beta, 1 / (this.#n - 1)) * (dev - this.#mad);
      return this.#result(0);
    }

    let change: Observation['change'];
    if (this.#open) {
      this.#openFor++;
      this.#recent += 0.1 * (x - this.#recent);
      // Calm: back within resolveThreshold σ̂, or under half the gate, or across the baseline.
      const calm = Math.abs(z) < o.resolveThreshold || dev < gate / 2 || Math.sign(r) === -this.#openSign;
      this.#calm = calm ? this.#calm + 1 : 0;
      // The level follows the anomaly only at a fraction of its speed (slow change goes on).
      this.#level += this.#alpha * o.openTracking * this.#clip(r, sigma, gate);
      if (this.#calm >= o.resolvePoints) {
        this.#open = false;
        change = 'resolve';
      } else if (this.#openFor >= o.adoptAfterPoints) {
        // The new normal: the baseline jumps to it; σ̂ keeps its estimate.
        this.#level = this.#recent;
        this.#open = false;
        change = 'resolve';
      }
      return this.#result(z, change);
    }

    const beyond = dev > gate && Math.abs(z) > o.threshold;
    if (beyond && (this.#streak === 0 || Math.sign(r) === this.#streakSign)) this.#streak++;
    else this.#streak = beyond ? 1 : 0;
    this.#streakSign = Math.sign(r);
    // The sustained rule (an EWMA control chart): the mean residual of the last minute or so.
    this.#mean += this.#delta * (r - this.#mean);
    const sustained = Math.abs(this.#mean) > gate && Math.abs(this.#mean) > o.sustainThreshold * sigma;
    if (this.#streak >= o.confirmPoints || sustained) {
      this.#openSign = this.#streak >= o.confirmPoints ? Math.sign(r) : Math.sign(this.#mean);
      this.#mean = 0;
      this.#open = true;
      this.#openFor = 0;
      this.#calm = 0;
      this.#streak = 0;
      this.#recent = x;
      change = 'open';
    } else {
      // Winsorized updates: an outlier moves the baseline by at most α · clamp · σ̂.
      const clipped = this.#clip(r, sigma, gate);
      this.#level += this.#alpha * clipped;
      this.#mad += this.#beta * (Math.abs(clipped) - this.#mad);
    }
    return this.#result(z, change);
  }

  /** r winsorized at clamp σ̂ (at least gate / threshold, so a flat series can still move). */
  #clip(r: number, sigma: number, gate: number): number {
    const width = Math.max(this.options.clamp * sigma, gate / this.options.threshold);
    return Math.max(-width, Math.min(width, r));
  }

  #sigma(): number {
    return MAD_TO_SIGMA * this.#mad;
  }

  #result(z: number, change?: Observation['change']): Observation {
    return {
      anomalous: this.#open,
      z,
      level: this.#level,
      sigma: this.#sigma(),
      ...(change ? { change } : {}),
    };
  }
}

/**
 * Per-metric minimum changes (the gate): what is too small to page anyone for, whatever
 * the noise. The detector's other parameters are the defaults for every metric.
 */
export const DETECTOR_PRESETS: Readonly<Record<MetricName, Partial<DetectorOptions>>> = Object.freeze({
  connections: { minChange: 50, minRelChange: 0.1 },
  events_per_second: { minChange: 20, minRelChange: 0.25 },
  http_p99_ms: { minChange: 25, minRelChange: 0.5 },
  http_error_rate: { minChange: 0.02, minRelChange: 0 },
  event_lag: { minChange: 1000, minRelChange: 0.5 },
  dlq_size: { minChange: 10, minRelChange: 0.1 },
});

/** The detector for a metric: defaults, the metric's gate, then `overrides`. */
export function detectorFor(metric: MetricName, overrides: Partial<DetectorOptions> = {}): AnomalyDetector {
  return new AnomalyDetector({ ...DETECTOR_PRESETS[metric], ...overrides });
}
