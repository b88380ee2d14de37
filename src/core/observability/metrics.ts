import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics, one registry per app (no global default registry, so two apps in
 * one test process don't collide). Names follow `backbeat_<capability>_<thing>_<unit>`.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'backbeat_gateway_connections',
    help: 'Open WebSocket connections (authenticated or not)',
    registers: [this.registry],
  });
  readonly connectionsTotal = new Counter({
    name: 'backbeat_gateway_connections_total',
    help: 'WebSocket connections accepted since start',
    registers: [this.registry],
  });
  readonly commands = new Counter({
    name: 'backbeat_gateway_commands_total',
    help: 'Commands handled, by type and outcome (ok or error code)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly messagesIn = new Counter({
    name: 'backbeat_gateway_messages_in_total',
    help: 'Frames received from clients',
    registers: [this.registry],
  });
  readonly messagesOut = new Counter({
    name: 'backbeat_gateway_messages_out_total',
    help: 'Frames sent to clients (replies and pushes)',
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({
    name: 'backbeat_gateway_bytes_in_total',
    help: 'Bytes of frames received from clients',
    registers: [this.registry],
  });
  readonly bytesOut = new Counter({
    name: 'backbeat_gateway_bytes_out_total',
    help: 'Bytes of frames queued to clients',
    registers: [this.registry],
  });
  readonly publishDuration = new Histogram({
    name: 'backbeat_gateway_publish_duration_seconds',
    help: 'Time from a publish request to the publication being in history and handed to fan-out',
    labelNames: ['source'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'backbeat_gateway_rate_limited_total',
    help: 'Commands rejected by the rate limit (4029)',
    registers: [this.registry],
  });
  readonly slowConsumerCloses = new Counter({
    name: 'backbeat_gateway_slow_consumer_closes_total',
    help: 'Connections closed because their outbound queue went over its bound (4009)',
    registers: [this.registry],
  });
  readonly closes = new Counter({
    name: 'backbeat_gateway_closes_total',
    help: 'Connections closed by the server, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'backbeat_errors_total',
    help: 'Errors returned to clients, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly channels = new Gauge({
    name: 'backbeat_gateway_channels',
    help: 'Channels with at least one subscriber on this node',
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
  readonly httpRequests = new Counter({
    name: 'backbeat_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'backbeat_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly httpBodiesPending = new Gauge({
    name: 'backbeat_http_bodies_pending',
    help: 'HTTP request bodies being received right now (bounded by HTTP_MAX_PENDING_BODIES)',
    registers: [this.registry],
  });
  readonly httpBodiesRefused = new Counter({
    name: 'backbeat_http_bodies_refused_total',
    help: 'HTTP requests refused because too many bodies were in flight (node or client address bound)',
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
