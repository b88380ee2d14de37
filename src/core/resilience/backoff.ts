/**
 * The one retry backoff: exponential from `baseMs`, capped at `maxMs`, with full jitter
 * (a uniform draw below the cap, AWS's "full jitter") so retries of many failures spread
 * out instead of arriving together. `attempt` counts from 1 (the first retry).
 */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
