/**
 * Exponential backoff with full jitter (AWS architecture blog): a delay drawn uniformly
 * from [0, min(max, min × 2^attempt)]. Spreads a crowd of reconnecting clients instead of
 * having them return in waves.
 */
export interface BackoffOptions {
  /** @default 250 ms */
  minDelayMs: number;
  /** @default 20000 ms */
  maxDelayMs: number;
}

export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
