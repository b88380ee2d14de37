import { randomUUID } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../core/observability/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';
import { detectorFor, type AnomalyDetector, type DetectorOptions } from './detector.ts';
import { holds, METRIC_NAMES, type AlertRule, type MetricName } from './rules.ts';
import { WebhookSender, type WebhookOptions } from './webhook.ts';

/** SPEC §7 `GET /v1/analytics/alerts` item; also what `system:alerts` and the webhook get. */
export interface Alert {
  id: string;
  name: string;
  kind: 'threshold' | 'anomaly';
  metric: MetricName;
  state: 'open' | 'resolved';
  /** The metric's value when the alert opened. */
  value: number;
  openedAt: string;
  resolvedAt?: string;
}

export type Sample = Record<MetricName, number>;

export const ALERTS_CHANNEL = 'system:alerts';

export interface AlertServiceOptions {
  rules: AlertRule[];
  webhookUrl?: string;
  sample: () => Promise<Sample> | Sample;
  /** Publishes on a channel (wired to the gateway's ChannelService; `system:alerts`). */
  publish: (channel: string, data: unknown) => Promise<unknown>;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  /** @default 1000 (the detector's spans are in samples, tuned for one a second) */
  intervalMs?: number;
  /** Resolved alerts kept for `list()`. @default 100 */
  keepResolved?: number;
  /** Samples kept per metric for `series()`. @default 3600 */
  seriesPoints?: number;
  /** Overrides of every metric's detector options (defaults: DETECTOR_DEFAULTS + DETECTOR_PRESETS). */
  detector?: Partial<DetectorOptions>;
  /** Webhook tuning: timeout, attempts, backoff, queue bound (and fetch, for tests). */
  webhook?: Omit<WebhookOptions, 'url' | 'clock' | 'logger' | 'outcomes'>;
}

interface RuleState {
  rule: AlertRule;
  /** When the condition started holding (ms), while it holds. */
  since: number | undefined;
  open: Alert | undefined;
}

interface Ring {
  times: Float64Array;
  values: Float64Array;
  next: number;
  size: number;
}

function metricOf<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * Performance monitoring and alerts (SPEC §7; README.md here). Every interval it samples
 * the six series, evaluates the threshold rules (open once the condition has held
 * `forSeconds`, resolve when it stops) and runs an anomaly detector on each metric
 * without a rule. Each change is logged, counted, published on `system:alerts` and
 * queued for the webhook — none of which can block or fail a tick: evaluation is local
 * to this node and keeps working while Redis, Kafka or the webhook are down.
 */
export class AlertService {
  readonly #o: AlertServiceOptions;
  readonly #rules: RuleState[];
  readonly #detectors = new Map<MetricName, AnomalyDetector>();
  readonly #rings = new Map<MetricName, Ring>();
  /** Open alerts and the last `keepResolved` resolved ones, oldest first. */
  readonly #alerts: Alert[] = [];
  readonly #webhook: WebhookSender | undefined;
  readonly #openGauge: Gauge;
  readonly #transitions: Counter<'kind' | 'state'>;
  #latest: Sample | undefined;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  #sampleFailing = false;

  constructor(opts: AlertServiceOptions) {
    this.#o = opts;
    this.#rules = opts.rules.map((rule) => ({ rule, since: undefined, open: undefined }));
    const covered = new Set(opts.rules.map((r) => r.metric));
    for (const m of METRIC_NAMES) if (!covered.has(m)) this.#detectors.set(m, detectorFor(m, opts.detector));
    const points = Math.max(1, opts.seriesPoints ?? 3600);
    for (const m of METRIC_NAMES)
      this.#rings.set(m, {
        times: new Float64Array(points),
        values: new Float64Array(points),
        next: 0,
        size: 0,
      });

    const registers = [opts.registry];
    this.#openGauge = metricOf(
      opts.registry,
      'backbeat_alerts_open',
      () => new Gauge({ name: 'backbeat_alerts_open', help: 'Alerts open on this node', registers }),
    );
    this.#transitions = metricOf(
      opts.registry,
      'backbeat_alerts_transitions_total',
      () =>
        new Counter({
          name: 'backbeat_alerts_transitions_total',
          help: 'Alert changes, by kind (threshold, anomaly) and state (open, resolved)',
          labelNames: ['kind', 'state'] as const,
          registers,
        }),
    );
    const outcomes = metricOf(
      opts.registry,
      'backbeat_alerts_webhook_total',
      () =>
        new Counter({
          name: 'backbeat_alerts_webhook_total',
          help: 'Alert webhook outcomes (delivered, retried, rejected, failed, dropped)',
          labelNames: ['outcome'] as const,
          registers,
        }),
    );
    if (opts.webhookUrl) {
      this.#webhook = new WebhookSender({
        ...opts.webhook,
        url: opts.webhookUrl,
        clock: opts.clock,
        logger: opts.logger,
        outcomes,
      });
    }
    this.#openGauge.set(0);
  }

  /** Samples now, then every interval; a slow tick is never overlapped (the next one is skipped). Idempotent. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = this.#o.clock.setInterval(() => this.#run(), Math.max(10, this.#o.intervalMs ?? 1000));
    this.#run();
  }

  /** Stops the timer, waits for a tick in flight, stops the webhook (waiting alerts are dropped). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#inFlight;
    await this.#webhook?.close();
  }

  /** One evaluation step. Never throws. */
  async tick(): Promise<void> {
    if (this.#closed) return;
    let sample: Sample;
    try {
      sample = await this.#o.sample();
    } catch (err) {
      if (!this.#sampleFailing)
        this.#o.logger.warn({ err }, 'alerts: sampling the metrics failed; skipping this interval');
      this.#sampleFailing = true;
      return;
    }
    if (this.#closed) return;
    this.#sampleFailing = false;
    const now = this.#o.clock.now();
    this.#latest = { ...sample };
    for (const m of METRIC_NAMES) this.#record(m, now, sample[m]);
    for (const s of this.#rules) this.#evaluateRule(s, sample[s.rule.metric], now);
    for (const [metric, detector] of this.#detectors) {
      const value = sample[metric];
      const o = detector.observe(value);
      const key = `${metric} anomaly`;
      if (o.change === 'open') this.#open({ name: key, kind: 'anomaly', metric, value }, now);
      else if (o.change === 'resolve') {
        const open = this.#alerts.find(
          (a) => a.state === 'open' && a.kind === 'anomaly' && a.metric === metric,
        );
        if (open) this.#resolve(open, now);
      }
    }
  }

  /** Open alerts and recently resolved ones, newest first. */
  list(): { items: Alert[] } {
    return { items: this.#alerts.map((a) => ({ ...a })).reverse() };
  }

  openCount(): number {
    return this.#alerts.reduce((n, a) => n + (a.state === 'open' ? 1 : 0), 0);
  }

  /** The last sample (for the dashboard and the overview), if any. */
  latest(): Sample | undefined {
    return this.#latest ? { ...this.#latest } : undefined;
  }

  /** Recent `[timeMs, value]` samples of a metric, oldest first (unknown samples skipped). */
  series(metric: MetricName): Array<[number, number]> {
    const ring = this.#rings.get(metric);
    if (!ring) return [];
    const cap = ring.values.length;
    const out: Array<[number, number]> = [];
    for (let i = 0; i < ring.size; i++) {
      const j = (ring.next - ring.size + i + cap) % cap;
      out.push([ring.times[j]!, ring.values[j]!]);
    }
    return out;
  }

  /** Webhook alerts waiting (tests, debugging). */
  get webhookPending(): number {
    return this.#webhook?.pending ?? 0;
  }

  /** Resolves when the webhook queue is empty (tests). */
  async webhookIdle(): Promise<void> {
    await this.#webhook?.idle();
  }

  #run(): void {
    if (this.#inFlight) return;
    this.#inFlight = this.tick().finally(() => (this.#inFlight = undefined));
  }

  #record(metric: MetricName, at: number, value: number): void {
    if (!Number.isFinite(value)) return;
    const ring = this.#rings.get(metric)!;
    ring.times[ring.next] = at;
    ring.values[ring.next] = value;
    ring.next = (ring.next + 1) % ring.values.length;
    ring.size = Math.min(ring.size + 1, ring.values.length);
  }

  #evaluateRule(s: RuleState, value: number, now: number): void {
    if (!Number.isFinite(value)) return; // unknown: the condition neither holds nor stops
    if (holds(s.rule, value)) {
      s.since ??= now;
      if (!s.open && now - s.since >= s.rule.forSeconds * 1000) {
        s.open = this.#open({ name: s.rule.name, kind: 'threshold', metric: s.rule.metric, value }, now);
      }
    } else {
      s.since = undefined;
      if (s.open) this.#resolve(s.open, now);
      s.open = undefined;
    }
  }

  #open(a: Pick<Alert, 'name' | 'kind' | 'metric' | 'value'>, now: number): Alert {
    const alert: Alert = { id: randomUUID(), ...a, state: 'open', openedAt: new Date(now).toISOString() };
    this.#alerts.push(alert);
    this.#changed(alert);
    return alert;
  }

  #resolve(alert: Alert, now: number): void {
    alert.state = 'resolved';
    alert.resolvedAt = new Date(now).toISOString();
    // Keep the resolved ones bounded: drop the oldest beyond keepResolved.
    let excess =
      this.#alerts.filter((a) => a.state === 'resolved').length - Math.max(0, this.#o.keepResolved ?? 100);
    for (let i = 0; excess > 0 && i < this.#alerts.length;) {
      if (this.#alerts[i]!.state === 'resolved') {
        this.#alerts.splice(i, 1);
        excess--;
      } else i++;
    }
    this.#changed(alert);
  }

  /** Logs, counts, publishes and queues one change; nothing here can throw or wait. */
  #changed(alert: Alert): void {
    const snapshot = { ...alert };
    const state = alert.state;
    this.#transitions.inc({ kind: alert.kind, state });
    this.#openGauge.set(this.openCount());
    const log = { alert: snapshot, event: state === 'open' ? 'alert.opened' : 'alert.resolved' };
    if (state === 'open')
      this.#o.logger.warn(log, `alert opened: ${alert.name} (${alert.metric} = ${alert.value})`);
    else this.#o.logger.info(log, `alert resolved: ${alert.name}`);
    void Promise.resolve()
      .then(() => this.#o.publish(ALERTS_CHANNEL, snapshot))
      .catch((err: unknown) =>
        this.#o.logger.warn(
          { err, alertId: alert.id },
          `alerts: publishing on ${ALERTS_CHANNEL} failed (the alert stands; the webhook and GET /v1/analytics/alerts still have it)`,
        ),
      );
    this.#webhook?.enqueue(snapshot);
  }
}
