import { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../core/observability/index.ts';

/**
 * The HTTP server's Prometheus metrics (`backbeat_http_*`), registered on the app's
 * registry. The cross-capability series the edge also counts (`backbeat_errors_total`,
 * `backbeat_json_depth_refused_total`) stay in core's `Metrics` and are passed through.
 */
export class HttpMetrics {
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route'>;
  readonly httpBodiesPending: Gauge;
  readonly httpBodiesRefused: Counter;
  readonly errors: Metrics['errors'];
  readonly jsonDepthRefused: Metrics['jsonDepthRefused'];

  constructor(core: Metrics) {
    const registers = [core.registry];
    this.errors = core.errors;
    this.jsonDepthRefused = core.jsonDepthRefused;
    this.httpRequests = new Counter({
      name: 'backbeat_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'backbeat_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.httpBodiesPending = new Gauge({
      name: 'backbeat_http_bodies_pending',
      help: 'HTTP request bodies being received right now (bounded by HTTP_MAX_PENDING_BODIES)',
      registers,
    });
    this.httpBodiesRefused = new Counter({
      name: 'backbeat_http_bodies_refused_total',
      help: 'HTTP requests refused because too many bodies were in flight (node or client address bound)',
      registers,
    });
  }
}
