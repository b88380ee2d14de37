/** The event stream capability (issue #3): what the composition root, HTTP and tests may use. */
export * from './events/index.ts';
export * from './log/index.ts';
export { EventIngest, parseNdjson, type IngestContext, type IngestResult } from './ingest.ts';
export {
  StreamProcessor,
  type EventHandler,
  type SnapshotPolicy,
  type HandlerContext,
  type RetryPolicy,
  type StreamProcessorOptions,
} from './processor.ts';
export { SqliteDeadLetterStore, type DeadLetter, type DeadLetterStore } from './dlq/store.ts';
export { TrendingHandler, type ListeningSession, type WindowSummary } from './handlers/trending.ts';
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
  StreamBacklogError,
  StreamingService,
  type DeadLetterReplay,
  type RecommendationList,
  type StreamingErasure,
  type StreamingOptions,
  type StreamingTuning,
  type StreamingUserExport,
  type TrackStatsView,
  type UserListeningView,
  type WindowsView,
} from './service.ts';
export {
  SnapshotStore,
  SnapshotInvalidError,
  encodeSnapshot,
  decodeSnapshot,
  SNAPSHOT_FORMAT,
  type SnapshotHeader,
} from './snapshots/store.ts';
export { InvalidHandlerSnapshotError } from './snapshots/check.ts';
export {
  packColumn,
  packStrings,
  unpackColumn,
  unpackStrings,
  type PackedStrings,
  type StringColumn,
} from './snapshots/columns.ts';
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
