/** Online recommendations (#3): item-kNN (long-term taste + session context) learned from plays, likes, adds and skips; the popularity and cosine baselines; the evaluations (synthetic, Last.fm). */
export type { Interaction, InteractionKind, Recommendation, Recommender, UserInteraction } from './types.ts';
export {
  ItemKnnRecommender,
  ITEM_KNN_DEFAULTS,
  type FeedbackWeights,
  type ItemKnnOptions,
  type ItemKnnStats,
} from './item-knn.ts';
export { CosineKnnRecommender, type CosineKnnOptions } from './cosine-knn.ts';
export {
  evaluateHoldout,
  LASTFM_DEV_FIXTURE,
  loadUserArtists,
  parseUserArtists,
  splitListening,
  type HoldoutCase,
  type HoldoutReport,
  type ListeningSplit,
  type ListeningSplitOptions,
  type UserArtist,
} from './lastfm.ts';
export {
  PopularityRecommender,
  POPULARITY_DEFAULTS,
  DecayedPopularity,
  type PopularityOptions,
} from './popularity.ts';
export { InvalidSnapshotError } from './snapshot-check.ts';
export { RingBuffer } from './ring-buffer.ts';
export { decayFactor, logAdd, toLog, valueAt, DAY_MS, HOUR_MS } from './decay.ts';
export {
  generateListening,
  mulberry32,
  SYNTHETIC_DEFAULTS,
  type SyntheticDataset,
  type SyntheticOptions,
  type SyntheticTrack,
  type SyntheticUser,
} from './synthetic.ts';
export {
  clearlyBeats,
  evaluate,
  leaveLastOut,
  metricsOf,
  RandomRecommender,
  shuffleLabels,
  type EvalCase,
  type EvalReport,
  type HoldoutOptions,
  type ModelMetrics,
} from './evaluate.ts';
