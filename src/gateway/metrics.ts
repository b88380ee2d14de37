import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The `source` label of `backbeat_gateway_publish_duration_seconds`: who asked for the publish. */
export type PublishSource = 'ws' | 'http' | 'streaming' | 'push' | 'system';

/**
 * The gateway's Prometheus metrics (`backbeat_gateway_*`), registered on the app's registry.
 *
 * Hot path: the per-frame and per-delivery counts (frames and bytes in and out, commands
 * answered `ok`) are plain numbers added to here, and folded into their prom-client
 * counters when the registry is read (`collect`), so a scrape, the alert sampler or a
 * test always sees every one of them; a labelled prom-client `inc()` costs ~200-400 ns
 * (label hashing), a `+=` a few. Rare events (errors, closes, limits) go straight to
 * prom-client.
 */
export class GatewayMetrics {
  readonly connections: Gauge;
  readonly connectionsTotal: Counter;
  readonly commands: Counter<'type' | 'outcome'>;
  readonly messagesIn: Counter;
  readonly messagesOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly publishDuration: Histogram<'source'>;
  readonly rateLimited: Counter;
  readonly slowConsumerCloses: Counter;
  readonly closes: Counter<'code'>;
  readonly channels: Gauge;

  /** Frames received from clients since the last read of the registry. */
  framesIn = 0;
  /** Bytes of those frames. */
  frameBytesIn = 0;
  /** Frames queued to clients (replies and pushes) since the last read. */
  framesOut = 0;
  /** Bytes of those frames. */
  frameBytesOut = 0;
  /** Commands answered `ok`, by type, since the last read. */
  readonly #ok = new Map<string, number>();
  /** One prom-client child per publish source (no label hashing per observation). */
  readonly #publishBySource = new Map<PublishSource, { observe(v: number): void }>();

  constructor(registry: Registry) {
    const registers = [registry];
    // `this` inside collect() is the metric; the tallies live on this object.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const m = this;
    this.connections = new Gauge({
      name: 'backbeat_gateway_connections',
      help: 'Open WebSocket connections (authenticated or not)',
      registers,
    });
    this.connectionsTotal = new Counter({
      name: 'backbeat_gateway_connections_total',
      help: 'WebSocket connections accepted since start',
      registers,
    });
    this.commands = new Counter({
      name: 'backbeat_gateway_commands_total',
      help: 'Commands handled, by type and outcome (ok or error code)',
      labelNames: ['type', 'outcome'] as const,
      registers,
      collect() {
        for (const [type, n] of m.#ok) if (n > 0) this.labels(type, 'ok').inc(n);
        m.#ok.clear();
      },
    });
    this.messagesIn = new Counter({
      name: 'backbeat_gateway_messages_in_total',
      help: 'Frames received from clients',
      registers,
      collect() {
        this.inc(m.framesIn);
        m.framesIn = 0;
      },
    });
    this.messagesOut = new Counter({
      name: 'backbeat_gateway_messages_out_total',
      help: 'Frames sent to clients (replies and pushes)',
      registers,
      collect() {
        this.inc(m.framesOut);
        m.framesOut = 0;
      },
    });
    this.bytesIn = new Counter({
      name: 'backbeat_gateway_bytes_in_total',
      help: 'Bytes of frames received from clients',
      registers,
      collect() {
        this.inc(m.frameBytesIn);
        m.frameBytesIn = 0;
      },
    });
    this.bytesOut = new Counter({
      name: 'backbeat_gateway_bytes_out_total',
      help: 'Bytes of frames queued to clients',
      registers,
      collect() {
        this.inc(m.frameBytesOut);
        m.frameBytesOut = 0;
      },
    });
    this.publishDuration = new Histogram({
      name: 'backbeat_gateway_publish_duration_seconds',
      help: 'Time from a publish request to the publication being in history and handed to fan-out',
      labelNames: ['source'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'backbeat_gateway_rate_limited_total',
      help: 'Commands rejected by the rate limit (4029)',
      registers,
    });
    this.slowConsumerCloses = new Counter({
      name: 'backbeat_gateway_slow_consumer_closes_total',
      help: 'Connections closed because their outbound queue went over its bound (4009)',
      registers,
    });
    this.closes = new Counter({
      name: 'backbeat_gateway_closes_total',
      help: 'Connections closed by the server, by close code',
      labelNames: ['code'] as const,
      registers,
    });
    this.channels = new Gauge({
      name: 'backbeat_gateway_channels',
      help: 'Channels with at least one subscriber on this node',
      registers,
    });
  }

  /** A command answered `ok` (counted in `backbeat_gateway_commands_total{outcome="ok"}`). */
  commandOk(type: string): void {
    this.#ok.set(type, (this.#ok.get(type) ?? 0) + 1);
  }

  /** Observes one publish's duration in seconds. */
  observePublish(source: PublishSource, seconds: number): void {
    let child = this.#publishBySource.get(source);
    if (!child) this.#publishBySource.set(source, (child = this.publishDuration.labels(source)));
    child.observe(seconds);
  }
}
