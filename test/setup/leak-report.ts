/** Counting and describing open resources for the leak check (test/setup/leaks.ts). */

/** Resource types (as process.getActiveResourcesInfo() names them) and how many of each. */
export type ResourceCounts = Map<string, number>;

/** A resource a file may leave behind because it is outside our control, and why. */
export interface AllowedLeak {
  type: string;
  count: number;
  why: string;
}

/**
 * Resources outside our control that a file may leave behind. Keep it empty unless a
 * library offers no way to close what it opens; never list a type wholesale for
 * convenience. (Unref'ed timers and handles need no entry: Node does not report them.)
 */
export const ALLOWED_LEAKS: readonly AllowedLeak[] = [];

export function countResources(types: readonly string[]): ResourceCounts {
  const counts: ResourceCounts = new Map();
  for (const t of types) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

/** What exists in `now` beyond `baseline` and beyond the allow-list, by type. */
export function leakedBeyond(
  baseline: ResourceCounts,
  now: ResourceCounts,
  allowed: readonly AllowedLeak[] = ALLOWED_LEAKS,
): ResourceCounts {
  const leaked: ResourceCounts = new Map();
  for (const [type, n] of now) {
    const allowance = allowed.filter((a) => a.type === type).reduce((s, a) => s + a.count, 0);
    const extra = n - (baseline.get(type) ?? 0) - allowance;
    if (extra > 0) leaked.set(type, extra);
  }
  return leaked;
}

/** `PipeWrap x4, Timeout x1` (sorted by type), or `nothing`. */
export function describeCounts(counts: ResourceCounts): string {
  if (counts.size === 0) return 'nothing';
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, n]) => `${type} x${n}`)
    .join(', ');
}
