/** The event stream capability (issue #3): what the composition root, HTTP and tests may use. */
export * from './events/index.ts';
export * from './log/index.ts';
export { EventIngest, parseNdjson, type IngestContext, type IngestResult } from './ingest.ts';
export {
  StreamProcessor,
  type EventHandler,
  type HandlerContext,
  type RetryPolicy,
  type StreamProcessorOptions,
} from './processor.ts';
export { SqliteDeadLetterStore, type DeadLetter, type DeadLetterStore } from './dlq/store.ts';
export { type ListeningSession } from './handlers/trending.ts';
export {
  PlaysHandler,
  classifyPlay,
  emptyTrack,
  type PlayOutcome,
  type TrackStats,
  type UserListening,
} from './handlers/plays.ts';
export { RecommendationsHandler, toInteraction, type UserPublisher } from './handlers/recommendations.ts';
export { StreamingMetrics } from './metrics.ts';
export {
  StreamingService,
  type StreamingErasure,
  type StreamingOptions,
  type StreamingUserExport,
} from './service.ts';
export {
  openKeyStore,
  SqlKeyStore,
  UserKeyCipher,
  SEALED_PREFIX,
  kidOf,
  type RecordCipher,
} from './crypto/index.ts';
export { createStreamEngines, type StreamEngines, type StreamEnginesConfig } from './engines.ts';
export { MirroredDeadLetterStore } from './dlq/mirrored.ts';
export * from './windows/index.ts';
