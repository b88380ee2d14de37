/** The statistics the experiment analysis needs, with no dependency: the normal CDF and the two-proportion z-test. */

/**
 * erfc(x) by the Chebyshev fit of Numerical Recipes (`erfcc`): fractional error below
 * 1.2e-7 everywhere, so p-values are right to ~7 significant digits, also tiny ones.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Φ(z), the standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

export interface ZTest {
  /** (p1 − p2) / pooled standard error. */
  z: number;
  /** Two-sided. */
  pValue: number;
}

/**
 * The pooled two-proportion z-test of x1/n1 vs x2/n2 (the same as a 2×2 chi-square test
 * without continuity correction: z² = χ²). Undefined when a sample is empty or the pooled
 * proportion is 0 or 1 (no variance: nothing to test).
 */
export function twoProportionZTest(x1: number, n1: number, x2: number, n2: number): ZTest | undefined {
  if (n1 <= 0 || n2 <= 0) return undefined;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return undefined;
  const z = (x1 / n1 - x2 / n2) / se;
  return { z, pValue: Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) };
}
