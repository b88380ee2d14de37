import type { MetricValue, Registry } from 'prom-client';
import { systemClock, type Clock } from '../../core/time/index.ts';
import type { MetricName } from './rules.ts';

/** The registry series the sampler reads (names from core/observability and streaming/metrics.ts). */
export const SOURCE_METRICS = Object.freeze({
  eventsIngested: 'backbeat_streaming_events_ingested_total',
  httpRequests: 'backbeat_http_requests_total',
  httpDuration: 'backbeat_http_request_duration_seconds',
});

export interface SamplerDeps {
  registry: Registry;
  connections: () => number;
  eventLag: () => Promise<number> | number;
  dlqSize: () => Promise<number> | number;
  /** Measures the interval for rates. @default systemClock */
  clock?: Clock;
}

interface Snapshot {
  at: number;
  events: number;
  requests: number;
  errors: number;
  /** Cumulative counts per upper bound (`le`), summed over routes; +Inf last. */
  buckets: Map<number, number>;
}

/**
 * The alert service's sample function: each call reads the registry and returns the six
 * series (SPEC §7). Rates and the p99 are over the interval since the previous call:
 * - `events_per_second`: accepted events (the ingest counter) per second;
 * - `http_p99_ms`: the 0.99 quantile of the latency histogram's bucket deltas, summed over
 *   routes, interpolated inside the bucket like PromQL's histogram_quantile; NaN when no
 *   request finished in the interval (unknown, so neither a rule nor the detector sees it);
 * - `http_error_rate`: 5xx / all requests finished in the interval (0 when there were none);
 * - `connections`, `event_lag`, `dlq_size`: as the callbacks report them (NaN if one throws).
 * The first call has no interval yet: its rates and p99 are NaN. A counter that went down
 * (a reset) counts from zero. Keep one sampler per consumer: calls share the interval.
 */
export function seriesSampler(deps: SamplerDeps): () => Promise<Record<MetricName, number>> {
  const clock = deps.clock ?? systemClock;
  let prev: Snapshot | undefined;
  return async () => {
    const now = await snapshot(deps.registry, clock.now());
    const last = prev;
    prev = now;
    const dlq = await Promise.resolve()
      .then(() => deps.dlqSize())
      .catch(() => NaN);
    const lag = await Promise.resolve()
      .then(() => deps.eventLag())
      .catch(() => NaN);
    const out: Record<MetricName, number> = {
      connections: read(deps.connections),
      events_per_second: NaN,
      http_p99_ms: NaN,
      http_error_rate: NaN,
      event_lag: lag,
      dlq_size: dlq,
    };
    if (!last || now.at <= last.at) return out;
    const seconds = (now.at - last.at) / 1000;
    out.events_per_second = delta(now.events, last.events) / seconds;
    const requests = delta(now.requests, last.requests);
    out.http_error_rate = requests > 0 ? Math.min(1, delta(now.errors, last.errors) / requests) : 0;
    out.http_p99_ms = 1000 * histogramQuantile(0.99, bucketDeltas(now.buckets, last.buckets));
    return out;
  };
}

function read(f: () => number): number {
  try {
    return f();
  } catch {
    return NaN;
  }
}

/** Increase of a counter; after a reset (the value went down) the new value is the increase. */
function delta(now: number, before: number): number {
  return now >= before ? now - before : now;
}

async function values(registry: Registry, name: string): Promise<MetricValue<string>[]> {
  const metric = registry.getSingleMetric(name);
  return metric ? (await metric.get()).values : [];
}

async function snapshot(registry: Registry, at: number): Promise<Snapshot> {
  const [ingested, requests, duration] = await Promise.all([
    values(registry, SOURCE_METRICS.eventsIngested),
    values(registry, SOURCE_METRICS.httpRequests),
    values(registry, SOURCE_METRICS.httpDuration),
  ]);
  let events = 0;
  for (const v of ingested) if (v.labels.outcome === 'accepted') events += v.value;
  let all = 0;
  let errors = 0;
  for (const v of requests) {
    all += v.value;
    if (String(v.labels.status ?? '').startsWith('5')) errors += v.value;
  }
  const buckets = new Map<number, number>();
  for (const v of duration) {
    if (
      (v as MetricValue<string> & { metricName?: string }).metricName !==
      `${SOURCE_METRICS.httpDuration}_bucket`
    )
      continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  return { at, events, requests: all, errors, buckets: new Map([...buckets].sort((a, b) => a[0] - b[0])) };
}

function bucketDeltas(now: Map<number, number>, before: Map<number, number>): Array<[number, number]> {
  const reset = [...now].some(([le, n]) => n < (before.get(le) ?? 0));
  return [...now].map(([le, n]) => [le, reset ? n : n - (before.get(le) ?? 0)]);
}

/**
 * The q-quantile of cumulative buckets `[upperBound, count]` sorted by bound (+Inf last):
 * linear inside the bucket holding the rank, from the previous bound (0 for the first).
 * In the +Inf bucket it is the highest finite bound. NaN for no observations.
 */
export function histogramQuantile(q: number, buckets: ReadonlyArray<readonly [number, number]>): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      return count === lowerCount
        ? le
        : lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

/** HTTP latency (p50, p99, ms) and error rate (5xx share) since the process started, for the overview. */
export async function httpSummary(
  registry: Registry,
): Promise<{ p50Ms: number; p99Ms: number; errorRate: number }> {
  const s = await snapshot(registry, 0);
  const buckets = [...s.buckets];
  const ms = (q: number): number => {
    const v = histogramQuantile(q, buckets);
    return Number.isFinite(v) ? Math.round(v * 1000 * 100) / 100 : 0;
  };
  return { p50Ms: ms(0.5), p99Ms: ms(0.99), errorRate: s.requests > 0 ? s.errors / s.requests : 0 };
}

/** The sum of a gauge's series (e.g. consumer lag over partitions); 0 when it is not registered. */
export async function gaugeTotal(registry: Registry, name: string): Promise<number> {
  let total = 0;
  for (const v of await values(registry, name)) total += v.value;
  return total;
}
