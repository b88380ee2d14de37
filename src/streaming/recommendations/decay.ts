/**
 * Exponential time decay in log space ("forward decay" with the epoch as landmark).
 *
 * A weight `w` observed at time `t` is stored as `log2(w) + t / halfLife`. Its value at a
 * later time `now` is `2 ** (stored − now / halfLife)` = `w · 2^(−(now − t) / halfLife)`,
 * i.e. it halves every half-life. Sums of decayed weights add in this space with
 * {@link logAdd}. Because every stored value carries the same `now / halfLife` offset,
 * ORDER between stored values is the order of their decayed values at any time, and
 * ratios of two decayed sums are time-independent: rankings never need a sweep to age
 * entries, and nothing overflows (t / halfLife stays far inside double range).
 *
 * An empty sum is `-Infinity` (not JSON-serializable: callers drop such entries).
 */

export const EMPTY = Number.NEGATIVE_INFINITY;

/** log2 of `w` (> 0) observed at `t`, for half-life `halfLifeMs`. */
export function toLog(w: number, t: number, halfLifeMs: number): number {
  return Math.log2(w) + t / halfLifeMs;
}

/** log2(2^a + 2^b), stable for large magnitudes. */
export function logAdd(a: number, b: number): number {
  if (a === EMPTY) return b;
  if (b === EMPTY) return a;
  const hi = a > b ? a : b;
  const lo = a > b ? b : a;
  return hi + Math.log1p(2 ** (lo - hi)) / Math.LN2;
}

/** The decayed value at `now` of a stored log value. */
export function valueAt(stored: number, now: number, halfLifeMs: number): number {
  return 2 ** (stored - now / halfLifeMs);
}

/** The plain decay factor after `dtMs`: 2^(−dt / halfLife) (1 for dt ≤ 0). */
export function decayFactor(dtMs: number, halfLifeMs: number): number {
  return dtMs <= 0 ? 1 : 2 ** (-dtMs / halfLifeMs);
}

/** Common half-life values. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
