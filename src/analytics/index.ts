/** Listening analytics (issue #10): what the composition root, HTTP and tests may use. */
export { AnalyticsService } from './service.ts';
export {
  DEFAULT_LIMITS,
  type AnalyticsEvent,
  type AnalyticsHandler,
  type AnalyticsLimits,
  type AnalyticsServiceOptions,
  type Overview,
  type UserAnalytics,
} from './options.ts';
export type { ConsentFlags, ConsentLookup } from './consent.ts';
export {
  SEGMENTS,
  SEGMENT_NAMES,
  engagement,
  segmentOf,
  type EngagementInput,
  type SegmentName,
} from './engagement.ts';
export { TREND_WINDOWS, type TrendEntity, type TrendingItem, type TrendWindow } from './trending.ts';
export { truncateIp } from './ip.ts';
export { KEYS_FILE } from './pseudonyms.ts';
export {
  AlertService,
  ALERTS_CHANNEL,
  gaugeTotal,
  httpSummary,
  parseAlertRules,
  seriesSampler,
  type Alert,
  type AlertRule,
  type MetricName,
} from './alerts/index.ts';
export { SystemPublisher, SYSTEM_CHANNELS, type SystemPublisherOptions } from './dashboard/publisher.ts';
export * from './gdpr/index.ts';
