/**
 * Offline evaluation of the anomaly detector against fixed thresholds (`npm run eval`,
 * test/ml/anomaly.test.ts; README.md here), on seeded series (synthetic.ts).
 * Every method turns a series into alarm episodes (an onset, then open until resolved);
 * all of them open only after `confirmPoints` samples in a row and resolve after
 * `resolvePoints` calm ones, so debouncing is not what separates them. Scored on day 2:
 * - recall: planted anomalies with an alarm onset within the allowed delay of their start
 *   (spike 10 s, shift 30 s, drift: before the ramp peaks);
 * - false alarms: every other onset — outside every anomaly (and the 2 min after it, when
 *   a reconnect or a drain may still show), or a second onset for the same anomaly —
 *   counted per 1,000 samples of day 2;
 * - normal-time alarm share: the share of anomaly-free samples spent in an open alarm
 *   (catches an alarm that opens once and never closes).
 */
import { mulberry32 } from '../../core/random/index.ts';
import { AnomalyDetector, DETECTOR_DEFAULTS, DETECTOR_PRESETS, type DetectorOptions } from './detector.ts';
import type { MetricName } from './rules.ts';
import type { AnomalyKind, LabelledAnomaly, SyntheticSeries } from './synthetic.ts';

/**
 * The bar: the detector must meet it, every fixed-threshold baseline must miss it.
 * False alarms: 0.1 per 1,000 samples, 50× stricter than the 5 per 1,000 — at
 * one sample a second, 5 per 1,000 would be 432 false pages a day per metric.
 */
export const ANOMALY_BAR = Object.freeze({
  recall: 0.9,
  falseAlarmsPer1000: 0.1,
  /** Share of anomaly-free samples spent in an open alarm. */
  normalAlarmShare: 0.05,
  /** Shuffled-label control: the detector's onsets against labels moved elsewhere. */
  shuffledRecall: 0.2,
});

export const MAX_DELAY: Readonly<Record<Exclude<AnomalyKind, 'drift'>, number>> = Object.freeze({
  spike: 10,
  shift: 30,
});
/** Samples after an anomaly ends in which an onset is attributed to it. */
export const SETTLE = 120;

export const METHOD = {
  detector: 'robust EWMA detector',
  meanSigma: 'mean ± 3σ of day 1',
  minMax: 'min/max of day 1',
  noGate: 'ablation: no minimum change',
  nonRobust: 'ablation: plain EWMA z (no winsorizing, no gate)',
  noConfirm: 'ablation: confirmPoints 1',
} as const;

/** Alarm episodes over day 2: onsets (sample indices) and whether each sample was in alarm. */
export interface Alarms {
  onsets: number[];
  inAlarm: Uint8Array;
}

export type Method = (s: SyntheticSeries) => Alarms;

/** Runs a detector over the whole series (day 1 is its warm-up and history). */
export function detectorMethod(options: Partial<DetectorOptions> = {}, gate = true): Method {
  return (s) => {
    const d = new AnomalyDetector({ ...(gate ? DETECTOR_PRESETS[s.metric] : {}), ...options });
    const inAlarm = new Uint8Array(s.values.length - s.testStart);
    const onsets: number[] = [];
    for (let t = 0; t < s.values.length; t++) {
      const o = d.observe(s.values[t]!);
      if (t < s.testStart) continue;
      if (o.change === 'open') onsets.push(t);
      inAlarm[t - s.testStart] = o.anomalous ? 1 : 0;
    }
    return { onsets, inAlarm };
  };
}

/** A fixed band [lo, hi] fitted on day 1, with the detector's debouncing and hysteresis. */
export function thresholdMethod(fit: (train: Float64Array) => { lo: number; hi: number }): Method {
  const { confirmPoints, resolvePoints } = DETECTOR_DEFAULTS;
  return (s) => {
    const { lo, hi } = fit(s.values.subarray(0, s.testStart));
    const inAlarm = new Uint8Array(s.values.length - s.testStart);
    const onsets: number[] = [];
    let open = false;
    let run = 0;
    for (let t = s.testStart; t < s.values.length; t++) {
      const v = s.values[t]!;
      const out = v > hi || v < lo;
      if (open) {
        run = out ? 0 : run + 1;
        if (run >= resolvePoints) open = false;
      } else {
        run = out ? run + 1 : 0;
        if (run >= confirmPoints) {
          open = true;
          run = 0;
          onsets.push(t);
        }
      }
      inAlarm[t - s.testStart] = open ? 1 : 0;
    }
    return { onsets, inAlarm };
  };
}

export function meanSigmaBand(train: Float64Array, k = 3): { lo: number; hi: number } {
  let sum = 0;
  for (const v of train) sum += v;
  const mean = sum / train.length;
  let sq = 0;
  for (const v of train) sq += (v - mean) ** 2;
  const sd = Math.sqrt(sq / train.length);
  return { lo: mean - k * sd, hi: mean + k * sd };
}

export function minMaxBand(train: Float64Array): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of train) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return { lo, hi };
}

export interface KindResult {
  planted: number;
  detected: number;
  meanDelay: number;
}

export interface MethodResult {
  method: string;
  recall: number;
  byKind: Partial<Record<AnomalyKind, KindResult>>;
  byMetric: Partial<Record<MetricName, { recall: number; falseAlarms: number }>>;
  falseAlarms: number;
  falseAlarmsPer1000: number;
  normalAlarmShare: number;
  testPoints: number;
}

interface Tally {
  planted: number;
  detected: number;
  falseAlarms: number;
}

function deadline(a: LabelledAnomaly): number {
  return a.kind === 'drift' ? a.peak : a.start + MAX_DELAY[a.kind];
}

/** Scores alarms against labels (see the module comment). Returns per-anomaly delays (−1: missed). */
export function score(
  alarms: Alarms,
  labels: readonly LabelledAnomaly[],
  testStart: number,
): { delays: number[]; falseAlarms: number; normalInAlarm: number; normalPoints: number } {
  const delays = labels.map(() => -1);
  let falseAlarms = 0;
  for (const t of alarms.onsets) {
    const i = labels.findIndex((a) => t >= a.start && t < a.end + SETTLE);
    if (i < 0) {
      falseAlarms++;
      continue;
    }
    const a = labels[i]!;
    if (delays[i] === -1 && t <= deadline(a)) delays[i] = t - a.start;
    else falseAlarms++;
  }
  let normalInAlarm = 0;
  let normalPoints = 0;
  let j = 0;
  for (let k = 0; k < alarms.inAlarm.length; k++) {
    const t = k + testStart;
    while (j < labels.length && labels[j]!.end + SETTLE <= t) j++;
    const a = labels[j];
    if (a && t >= a.start) continue;
    normalPoints++;
    normalInAlarm += alarms.inAlarm[k]!;
  }
  return { delays, falseAlarms, normalInAlarm, normalPoints };
}

export function evaluateMethod(
  name: string,
  method: Method,
  series: readonly SyntheticSeries[],
): MethodResult {
  const byKind: Partial<Record<AnomalyKind, KindResult>> = {};
  const metricTally = new Map<MetricName, Tally>();
  let planted = 0;
  let detected = 0;
  let falseAlarms = 0;
  let testPoints = 0;
  let normalInAlarm = 0;
  let normalPoints = 0;
  for (const s of series) {
    const r = score(method(s), s.anomalies, s.testStart);
    const m = metricTally.get(s.metric) ?? { planted: 0, detected: 0, falseAlarms: 0 };
    metricTally.set(s.metric, m);
    s.anomalies.forEach((a, i) => {
      const k = (byKind[a.kind] ??= { planted: 0, detected: 0, meanDelay: 0 });
      k.planted++;
      const d = r.delays[i]!;
      if (d >= 0) {
        k.meanDelay += (d - k.meanDelay) / ++k.detected;
        m.detected++;
      }
      m.planted++;
    });
    m.falseAlarms += r.falseAlarms;
    planted += s.anomalies.length;
    detected += r.delays.filter((d) => d >= 0).length;
    falseAlarms += r.falseAlarms;
    testPoints += s.values.length - s.testStart;
    normalInAlarm += r.normalInAlarm;
    normalPoints += r.normalPoints;
  }
  const byMetric: MethodResult['byMetric'] = {};
  for (const [metric, t] of metricTally)
    byMetric[metric] = { recall: t.planted ? t.detected / t.planted : 1, falseAlarms: t.falseAlarms };
  return {
    method: name,
    recall: planted ? detected / planted : 1,
    byKind,
    byMetric,
    falseAlarms,
    falseAlarmsPer1000: (1000 * falseAlarms) / testPoints,
    normalAlarmShare: normalPoints ? normalInAlarm / normalPoints : 0,
    testPoints,
  };
}

/** The same series with every label moved by a random offset (wrapping inside day 2). */
export function shuffleLabels(series: readonly SyntheticSeries[], seed: number): SyntheticSeries[] {
  const rng = mulberry32(seed ^ 0x5eed);
  return series.map((s) => {
    const span = s.values.length - s.testStart;
    const offset = Math.floor(span * (0.1 + 0.8 * rng()));
    const anomalies = s.anomalies
      .map((a) => {
        const start = s.testStart + ((a.start - s.testStart + offset) % span);
        return { kind: a.kind, start, peak: start + (a.peak - a.start), end: start + (a.end - a.start) };
      })
      .filter((a) => a.end + SETTLE < s.values.length)
      .sort((a, b) => a.start - b.start);
    return { ...s, anomalies };
  });
}

export interface AnomalyReport {
  series: number;
  planted: number;
  testPoints: number;
  methods: MethodResult[];
  /** The detector on series without any anomaly. */
  clean: MethodResult;
  /** The detector's alarms scored against shuffled labels. */
  shuffled: MethodResult;
}

export function evaluateAnomaly(
  series: readonly SyntheticSeries[],
  clean: readonly SyntheticSeries[],
  seed: number,
  options: Partial<DetectorOptions> = {},
): AnomalyReport {
  const methods: Array<[string, Method]> = [
    [METHOD.detector, detectorMethod(options)],
    [METHOD.meanSigma, thresholdMethod((t) => meanSigmaBand(t))],
    [METHOD.minMax, thresholdMethod(minMaxBand)],
    [METHOD.noGate, detectorMethod(options, false)],
    [METHOD.nonRobust, detectorMethod({ ...options, clamp: Infinity }, false)],
    [METHOD.noConfirm, detectorMethod({ ...options, confirmPoints: 1 })],
  ];
  const detector = detectorMethod(options);
  // The shuffled control scores the detector's own alarms on the real series against moved labels.
  const shuffledSeries = shuffleLabels(series, seed);
  const cache = new Map<SyntheticSeries, Alarms>();
  series.forEach((s, i) => cache.set(shuffledSeries[i]!, detector(s)));
  return {
    series: series.length,
    planted: series.reduce((n, s) => n + s.anomalies.length, 0),
    testPoints: series.reduce((n, s) => n + s.values.length - s.testStart, 0),
    methods: methods.map(([name, m]) => evaluateMethod(name, m, series)),
    clean: evaluateMethod(`${METHOD.detector}, no anomalies planted (control)`, detector, clean),
    shuffled: evaluateMethod(
      `${METHOD.detector}, shuffled labels (control)`,
      (s) => cache.get(s)!,
      shuffledSeries,
    ),
  };
}

export function methodResult(r: AnomalyReport, name: string): MethodResult {
  const m = r.methods.find((x) => x.method === name);
  if (!m) throw new Error(`no method ${name}`);
  return m;
}

export const meetsBar = (m: MethodResult): boolean =>
  m.recall >= ANOMALY_BAR.recall &&
  m.falseAlarmsPer1000 <= ANOMALY_BAR.falseAlarmsPer1000 &&
  m.normalAlarmShare <= ANOMALY_BAR.normalAlarmShare;

export interface AnomalyVerdict {
  detectorMeetsBar: boolean;
  baselinesMiss: boolean;
  cleanHeld: boolean;
  shuffledHeld: boolean;
  ok: boolean;
}

export function anomalyVerdict(r: AnomalyReport): AnomalyVerdict {
  const detectorMeetsBar = meetsBar(methodResult(r, METHOD.detector));
  const baselinesMiss = [METHOD.meanSigma, METHOD.minMax].every((b) => !meetsBar(methodResult(r, b)));
  const cleanHeld =
    r.clean.falseAlarmsPer1000 <= ANOMALY_BAR.falseAlarmsPer1000 &&
    r.clean.normalAlarmShare <= ANOMALY_BAR.normalAlarmShare;
  const shuffledHeld = r.shuffled.recall <= ANOMALY_BAR.shuffledRecall;
  return {
    detectorMeetsBar,
    baselinesMiss,
    cleanHeld,
    shuffledHeld,
    ok: detectorMeetsBar && baselinesMiss && cleanHeld && shuffledHeld,
  };
}
