/**
 * Variant assignment (SPEC §6): a deterministic hash of the experiment name and the user
 * id, in proportion to the weights. The same user always gets the same variant of an
 * experiment (as long as its variants and weights stay the same), with no state; users'
 * variants in two experiments are independent, since the name is part of what is hashed.
 */
import { hash } from 'node:crypto';

export interface WeightedVariant {
  name: string;
  weight: number;
}

/**
 * A user's position in an experiment, uniform in [0, 1): the first 48 bits of
 * SHA-256(experimentName ␀ userId). SHA-256 rather than a fast non-cryptographic hash
 * so that related names (`exp-1`, `exp-2`) and ids (`u1`, `u2`) give unrelated positions;
 * at ~0.5 µs a call it is not what a send costs.
 */
export function bucketOf(experimentName: string, userId: string): number {
  const hex = hash('sha256', `${experimentName}\u0000${userId}`, 'hex');
  return parseInt(hex.slice(0, 12), 16) / 2 ** 48;
}

/**
 * The variant for `userId`: the one whose share of the cumulative weights (in the given
 * order) holds the user's bucket. Throws `RangeError` without a positive total weight
 * (validate the definition first: `validateExperiment`).
 */
export function assignVariant<V extends WeightedVariant>(
  experimentName: string,
  userId: string,
  variants: readonly V[],
): V {
  let total = 0;
  for (const v of variants) {
    if (!(v.weight > 0) || !Number.isFinite(v.weight))
      throw new RangeError(`variant ${JSON.stringify(v.name)} needs a positive weight`);
    total += v.weight;
  }
  if (variants.length === 0) throw new RangeError('an experiment needs variants');
  const target = bucketOf(experimentName, userId) * total;
  let cumulative = 0;
  for (const v of variants) {
    cumulative += v.weight;
    if (target < cumulative) return v;
  }
  return variants[variants.length - 1] as V; // float rounding at the very top
}
