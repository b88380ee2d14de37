/** Event-time windowed aggregation (tumbling, sliding, session), HyperLogLog and Space-Saving sketches. */
export {
  WindowedAggregator,
  DEFAULT_MAX_OPEN_CELLS,
  type WindowedAggregatorOptions,
  type WindowedAggregatorSnapshot,
} from './aggregator.ts';
export {
  assignWindows,
  session,
  sliding,
  tumbling,
  type AlignOptions,
  type SessionWindows,
  type SlidingWindows,
  type TumblingWindows,
  type WindowAssigner,
  type WindowBounds,
} from './assigners.ts';
export {
  avg,
  count,
  distinct,
  max,
  min,
  sum,
  topK,
  type Aggregation,
  type Aggregations,
  type Countable,
  type DistinctOptions,
  type NumberField,
  type ResultOf,
  type TopKOptions,
  type ValuesOf,
} from './aggregations.ts';
export type {
  EmitMode,
  EmitTrigger,
  LateReason,
  OverflowPolicy,
  WindowKey,
  WindowResult,
  WindowStats,
} from './core.ts';
export {
  HyperLogLog,
  HLL_DEFAULT_PRECISION,
  HLL_MAX_PRECISION,
  HLL_MIN_PRECISION,
  type HyperLogLogJson,
} from './hyperloglog.ts';
export { SpaceSaving, type SpaceSavingJson, type TopKEntry } from './space-saving.ts';
export { hash64 } from './hash.ts';
export { mulberry32, zipf } from './synthetic.ts';
