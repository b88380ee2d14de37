/** GDPR (SPEC §7, issue #10): consent, export, erasure with durable receipts. */
export {
  GdprService,
  parseConsent,
  STORE_PART,
  type Eraser,
  type ErasureProgress,
  type Exporter,
  type GdprServiceOptions,
} from './service.ts';
export {
  analyticsGdpr,
  pushGdpr,
  streamingGdpr,
  type AnalyticsGdpr,
  type PushGdpr,
  type StreamingGdpr,
} from './parts.ts';
