/**
 * Experiment results (SPEC §6, `GET /v1/experiments/{name}`): open rate per variant and a
 * winner only when the difference is significant.
 *
 * The test: the variant with the best open rate (opened / sent) against each other one,
 * by the pooled two-proportion z-test (two-sided). With k variants that is k − 1
 * comparisons, Bonferroni-corrected: each p-value is multiplied by k − 1 (capped at 1).
 * The best variant wins when it beats every other one, so the reported `pValue` is the
 * largest corrected p-value of the k − 1 comparisons, and a winner is named when it is
 * below α (0.05). Why that keeps false winners at or below α even though "best" is picked
 * after looking at the data: a false winner needs some variant i to beat a fixed other
 * variant j in the one direction, an event of probability α / (2(k − 1)) under no
 * difference; summed over the k candidates for i that is k·α / (2(k − 1)) ≤ α for every
 * k ≥ 2 (= α for an A/B test). `test/ml/experiments.test.ts` measures it by simulation.
 *
 * Enough samples: a winner also needs every variant to have at least `minSent` sends
 * (100) and, for each comparison, at least `minExpected` (5) expected opens and non-opens
 * in each group under the pooled rate, where the normal approximation holds.
 */
import { twoProportionZTest } from './stats.ts';

export interface VariantCounts {
  name: string;
  weight: number;
  recipients: number;
  sent: number;
  opened: number;
}

export interface VariantResult extends VariantCounts {
  /** opened / sent (opens beyond sends — duplicate or late events — are capped at sent); 0 before any send. */
  openRate: number;
}

export interface Comparison {
  /** The variant the best one was compared with. */
  against: string;
  z: number;
  /** Two-sided, uncorrected. */
  pValue: number;
  /** × (k − 1), capped at 1. */
  adjustedPValue: number;
  /** Sample sizes large enough for the normal approximation. */
  enoughSamples: boolean;
}

export interface ExperimentAnalysis {
  variants: VariantResult[];
  winner: string | null;
  /** Corrected p-value of the best variant vs the strongest other one; null when not computable. */
  pValue: number | null;
  /** Why there is (no) winner. */
  reason: 'significant' | 'not-significant' | 'insufficient-data';
  /** The best variant (highest open rate) and its comparisons; absent when not computable. */
  best?: string;
  comparisons: Comparison[];
}

export interface AnalyzeOptions {
  /** Significance level, default 0.05. */
  alpha?: number;
  /** Sends each variant needs before a winner can be named, default 100. */
  minSent?: number;
  /** Expected opens and non-opens per group a comparison needs, default 5. */
  minExpected?: number;
}

function count(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.floor(x) : 0;
}

export function analyze(input: readonly VariantCounts[], options: AnalyzeOptions = {}): ExperimentAnalysis {
  const alpha = options.alpha ?? 0.05;
  const minSent = options.minSent ?? 100;
  const minExpected = options.minExpected ?? 5;
  const variants: VariantResult[] = input.map((v) => {
    const sent = count(v.sent);
    const opened = Math.min(count(v.opened), sent);
    return { ...v, recipients: count(v.recipients), sent, opened, openRate: sent > 0 ? opened / sent : 0 };
  });
  const none = (reason: ExperimentAnalysis['reason']): ExperimentAnalysis => ({
    variants,
    winner: null,
    pValue: null,
    reason,
    comparisons: [],
  });
  if (variants.length < 2 || variants.some((v) => v.sent === 0)) return none('insufficient-data');

  // The best open rate; a tie for the top is no winner (its comparison has z = 0, p = 1).
  const best = variants.reduce((a, b) => (b.openRate > a.openRate ? b : a));
  const k = variants.length;
  const comparisons: Comparison[] = [];
  for (const other of variants) {
    if (other === best) continue;
    const test = twoProportionZTest(best.opened, best.sent, other.opened, other.sent);
    if (!test) return none('insufficient-data'); // every group opened all or none: no variance
    const pooled = (best.opened + other.opened) / (best.sent + other.sent);
    const expected = Math.min(best.sent, other.sent) * Math.min(pooled, 1 - pooled);
    comparisons.push({
      against: other.name,
      z: test.z,
      pValue: test.pValue,
      adjustedPValue: Math.min(1, test.pValue * (k - 1)),
      enoughSamples: best.sent >= minSent && other.sent >= minSent && expected >= minExpected,
    });
  }
  const pValue = Math.max(...comparisons.map((c) => c.adjustedPValue));
  const enough = comparisons.every((c) => c.enoughSamples);
  const significant = pValue < alpha && comparisons.every((c) => c.z > 0);
  return {
    variants,
    winner: enough && significant ? best.name : null,
    pValue,
    reason: !enough ? 'insufficient-data' : significant ? 'significant' : 'not-significant',
    best: best.name,
    comparisons,
  };
}
