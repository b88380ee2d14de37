import type { Logger } from '../../core/observability/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';

/** The channels the dashboard reads (SPEC §7); `system:alerts` is fed by the alert service. */
export const SYSTEM_CHANNELS = {
  overview: 'system:overview',
  trending: 'system:trending',
  metrics: 'system:metrics',
  alerts: 'system:alerts',
} as const;

export interface SystemPublisherOptions {
  /** Publishes on a channel (the gateway's ChannelService, source `http`/internal). */
  publish: (channel: string, data: unknown) => Promise<unknown>;
  /** `GET /v1/analytics/overview` shape: events, activeUsers, connections, topTracks, http, alerts. */
  overview: () => Promise<Record<string, unknown>>;
  /** `{tracks, artists}`: each a list of `{id, score, plays, uniqueListeners}`. */
  trending: () => Promise<Record<string, unknown>>;
  /** The performance series: connections, events_per_second, http_p99_ms, http_error_rate, event_lag, dlq_size. */
  metrics: () => Promise<Record<string, number>> | Record<string, number>;
  clock: Clock;
  logger: Logger;
  /** @default 1000 */
  intervalMs?: number;
}

type Feed = keyof Omit<typeof SYSTEM_CHANNELS, 'alerts'>;
const FEEDS: readonly Feed[] = ['overview', 'trending', 'metrics'];

/**
 * Publishes `{ts, ...snapshot}` of the overview, the trending lists and the performance
 * metrics to `system:overview`, `system:trending` and `system:metrics` every interval,
 * so the dashboard updates from pushes only. A slow tick is never overlapped by the
 * next one (that tick is skipped); a failing source or publish is logged (once per
 * failure streak, at warn) and never throws out of the timer.
 */
export class SystemPublisher {
  readonly #o: SystemPublisherOptions;
  readonly #intervalMs: number;
  readonly #failing = new Set<Feed>();
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  /** Ticks that published every feed (for tests and debugging). */
  ticks = 0;

  constructor(opts: SystemPublisherOptions) {
    this.#o = opts;
    this.#intervalMs = Math.max(50, opts.intervalMs ?? 1000);
  }

  /** Publishes once now, then every interval. Idempotent. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = this.#o.clock.setInterval(() => this.#run(), this.#intervalMs);
    this.#run();
  }

  /** Stops the timer and waits for a tick in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#inFlight;
  }

  /** One round: every feed read and published concurrently; resolves when all are done (never rejects). */
  async tick(): Promise<void> {
    const ts = this.#o.clock.now();
    const results = await Promise.all(FEEDS.map((feed) => this.#publish(feed, ts)));
    if (results.every(Boolean)) this.ticks++;
  }

  #run(): void {
    if (this.#inFlight || this.#closed) return; // the previous tick is still running: skip this one
    this.#inFlight = this.tick().finally(() => (this.#inFlight = undefined));
  }

  async #publish(feed: Feed, ts: number): Promise<boolean> {
    const channel = SYSTEM_CHANNELS[feed];
    try {
      const snapshot = await this.#o[feed]();
      await this.#o.publish(channel, { ts, ...snapshot });
      if (this.#failing.delete(feed)) this.#o.logger.info({ channel }, 'dashboard feed recovered');
      return true;
    } catch (err) {
      if (this.#failing.has(feed)) this.#o.logger.debug({ err, channel }, 'dashboard feed still failing');
      else {
        this.#failing.add(feed);
        this.#o.logger.warn({ err, channel }, 'dashboard feed failed; retrying every interval');
      }
      return false;
    }
  }
}
