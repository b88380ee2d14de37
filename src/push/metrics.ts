import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The push capability's own metrics (`backbeat_push_*`). */
export class PushMetrics {
  readonly deliveries: Counter<'provider' | 'outcome'>;
  readonly sendDuration: Histogram<'provider'>;
  readonly inFlight: Gauge;
  readonly jobsCreated: Counter<'channel'>;
  readonly recipientsCreated: Counter<'state'>;
  readonly providerStopped: Counter<'provider'>;
  readonly outcomeWrites: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'backbeat_push_deliveries_total',
      help: 'Push delivery attempts by provider (apns, fcm, webpush, ws) and outcome (delivered, retry, invalid-token, failed, provider-error, unavailable)',
      labelNames: ['provider', 'outcome'] as const,
      registers,
    });
    this.sendDuration = new Histogram({
      name: 'backbeat_push_send_duration_seconds',
      help: 'Time from handing a notification to a provider to its answer',
      labelNames: ['provider'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'backbeat_push_in_flight',
      help: 'Deliveries in flight on this node (PUSH_MAX_IN_FLIGHT bounds it)',
      registers,
    });
    this.jobsCreated = new Counter({
      name: 'backbeat_push_jobs_created_total',
      help: 'Notification jobs created',
      labelNames: ['channel'] as const,
      registers,
    });
    this.recipientsCreated = new Counter({
      name: 'backbeat_push_recipients_created_total',
      help: 'Recipient rows created with jobs, by initial state (pending, held, skipped)',
      labelNames: ['state'] as const,
      registers,
    });
    this.providerStopped = new Counter({
      name: 'backbeat_push_provider_errors_total',
      help: 'Answers by which a provider refused our credentials or permission (the provider is paused; alert on it)',
      labelNames: ['provider'] as const,
      registers,
    });
    this.outcomeWrites = new Histogram({
      name: 'backbeat_push_outcome_batch_size',
      help: 'Outcomes committed per store transaction (outcomes arriving during a commit go into the next one)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    });
  }
}
