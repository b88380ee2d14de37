/** Performance monitoring and alerts (#10, SPEC §7): threshold rules, anomaly detection, webhook. README.md here. */
export { METRIC_NAMES, isMetricName, parseAlertRules, type AlertRule, type MetricName } from './rules.ts';
export {
  ALERTS_CHANNEL,
  AlertService,
  type Alert,
  type AlertServiceOptions,
  type Sample,
} from './service.ts';
export {
  gaugeTotal,
  histogramQuantile,
  httpSummary,
  seriesSampler,
  SOURCE_METRICS,
  type SamplerDeps,
} from './sampler.ts';
export {
  AnomalyDetector,
  detectorFor,
  DETECTOR_DEFAULTS,
  DETECTOR_PRESETS,
  type DetectorOptions,
  type Observation,
} from './detector.ts';
export { WebhookSender, type WebhookOptions, type WebhookOutcome } from './webhook.ts';
export {
  generateSeries,
  SYNTH_DEFAULTS,
  type AnomalyKind,
  type LabelledAnomaly,
  type SyntheticOptions,
  type SyntheticSeries,
} from './synthetic.ts';
export {
  ANOMALY_BAR,
  anomalyVerdict,
  evaluateAnomaly,
  meetsBar,
  METHOD,
  methodResult,
  type AnomalyReport,
  type AnomalyVerdict,
  type MethodResult,
} from './evaluate.ts';
