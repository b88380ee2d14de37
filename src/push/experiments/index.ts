/** Experiments (#9): deterministic weighted variant assignment, definition checks, significance of open rates; pure. */
export { assignVariant, bucketOf, type WeightedVariant } from './assign.ts';
export {
  InvalidExperimentError,
  MAX_VARIANTS,
  validateExperiment,
  type ExperimentDefinition,
  type ExperimentVariant,
} from './validate.ts';
export {
  analyze,
  type AnalyzeOptions,
  type Comparison,
  type ExperimentAnalysis,
  type VariantCounts,
  type VariantResult,
} from './analyze.ts';
export { erfc, normalCdf, twoProportionZTest, type ZTest } from './stats.ts';
