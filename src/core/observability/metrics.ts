import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics, one registry per app (no global default registry, so two apps in
 * one test process don't collide). Names follow `backbeat_<capability>_<thing>_<unit>`.
 *
 * Core holds the registry, the process (default) metrics and the series that belong to
 * no one capability: errors returned to clients, the JSON depth bound (core/json) and
 * the dependency breakers (core/resilience). Each capability registers its own metrics
 * on `registry` (gateway/metrics.ts, http/metrics.ts, streaming/metrics.ts, …).
 */
export class Metrics {
  readonly registry = new Registry();

  readonly errors = new Counter({
    name: 'backbeat_errors_total',
    help: 'Errors returned to clients, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: 'backbeat_core_breaker_open',
    help: 'Circuit breaker state per dependency (1 open, 0.5 half-open, 0 closed)',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });
  readonly breakerRejections = new Counter({
    name: 'backbeat_core_breaker_rejections_total',
    help: 'Calls refused because a dependency breaker was open',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });
  readonly jsonDepthRefused = new Counter({
    name: 'backbeat_json_depth_refused_total',
    help: 'User JSON refused for nesting deeper than MAX_JSON_DEPTH, by where it entered',
    labelNames: ['edge'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'backbeat_process_' });
  }
}
