/**
 * Test helpers for the windowed aggregator (imported by the *.test.ts files only): an
 * aggregator wired to arrays of results and late events.
 */
import {
  count,
  type Aggregations,
  type LateReason,
  type WindowAssigner,
  type WindowedAggregatorOptions,
  type WindowKey,
  type WindowResult,
  WindowedAggregator,
  type ValuesOf,
} from './index.ts';

export interface Ev {
  k: string;
  t: number;
  v?: number;
  u?: string;
}

export interface Late<E> {
  event: E;
  reason: LateReason;
  t: number;
}

export interface Harness<E, K extends WindowKey, A extends Aggregations<E>> {
  agg: WindowedAggregator<E, K, A>;
  results: WindowResult<K, ValuesOf<A>>[];
  late: Late<E>[];
  /** Results emitted since the last call. */
  take(): WindowResult<K, ValuesOf<A>>[];
}

export function harness<E, K extends WindowKey, A extends Aggregations<E>>(
  options: Omit<WindowedAggregatorOptions<E, K, A>, 'onResult' | 'onLate'>,
): Harness<E, K, A> {
  const results: WindowResult<K, ValuesOf<A>>[] = [];
  const late: Late<E>[] = [];
  let seen = 0;
  const agg = new WindowedAggregator<E, K, A>({
    ...options,
    onResult: (r) => results.push(r),
    onLate: (event, reason, t) => late.push({ event, reason, t }),
  });
  return {
    agg,
    results,
    late,
    take: () => {
      const out = results.slice(seen);
      seen = results.length;
      return out;
    },
  };
}

/** A counting harness over `Ev` keyed by `k`. */
export function counting(
  window: WindowAssigner,
  options: {
    outOfOrdernessMs?: number;
    graceMs?: number;
    emit?: 'eager' | 'final';
    maxOpenCells?: number;
    overflow?: 'evict-oldest' | 'drop-new';
  } = {},
) {
  return harness({ window, key: (e: Ev) => e.k, aggregations: { n: count<Ev>() }, ...options });
}

export function feed<E extends { t: number }>(agg: { add(e: E, t: number): void }, events: E[]): void {
  for (const e of events) agg.add(e, e.t);
}

/** Compact view of results: "key [start,end) n=… rev final trigger". */
export function brief(results: WindowResult<WindowKey, { n: number }>[]): string[] {
  return results.map(
    (r) =>
      `${r.key} [${r.window.start},${r.window.end}) n=${r.values.n} r${r.revision}${r.final ? ' final' : ''} ${r.trigger}`,
  );
}
