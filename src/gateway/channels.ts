import type { Metrics } from '../core/observability/index.ts';
import { extractContext, injectContext, withSpan } from '../core/observability/index.ts';
import type { DependencyBreaker } from '../core/resilience/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { ClientInfo, Engines, HistoryPage, StreamPosition } from './engines/ports.ts';

export interface PublishResult {
  offset: number;
  epoch: string;
}

/**
 * Channel operations shared by the WebSocket commands and the HTTP API: publish (history
 * first, then fan-out, so a `published` reply means the publication is recoverable),
 * presence, history and cluster-wide user disconnects. Every engine call goes through
 * the dependency breaker: when the engine is down, callers get 4503 / HTTP 503.
 */
export class ChannelService {
  readonly #engines: Engines;
  readonly #breaker: DependencyBreaker;
  readonly #metrics: Metrics;
  readonly #clock: Clock;
  readonly #historySize: number;

  constructor(deps: {
    engines: Engines;
    breaker: DependencyBreaker;
    metrics: Metrics;
    clock: Clock;
    historySize: number;
  }) {
    this.#engines = deps.engines;
    this.#breaker = deps.breaker;
    this.#metrics = deps.metrics;
    this.#clock = deps.clock;
    this.#historySize = deps.historySize;
  }

  async publish(
    channel: string,
    data: unknown,
    info: ClientInfo | undefined,
    source: 'ws' | 'http' | 'streaming' | 'push' | 'system',
    traceHeaders?: Record<string, unknown>,
  ): Promise<PublishResult> {
    const started = performance.now();
    return withSpan('gateway.publish', extractContext(traceHeaders), async (span) => {
      span.setAttribute('backbeat.channel', channel);
      const trace = injectContext();
      const pub = {
        data,
        ts: this.#clock.now(),
        ...(info ? { info } : {}),
        ...(Object.keys(trace).length ? { trace } : {}),
      };
      const { publication, epoch } = await this.#breaker.call(() => this.#engines.publish(channel, pub));
      this.#metrics.publishDuration.labels(source).observe((performance.now() - started) / 1000);
      span.setAttribute('backbeat.offset', publication.offset);
      return { offset: publication.offset, epoch };
    });
  }

  async presence(channel: string): Promise<Required<ClientInfo>[]> {
    return this.#breaker.call(() => this.#engines.presence.list(channel));
  }

  /** `since` absent: the latest `limit` (default 100), oldest first. */
  async history(
    channel: string,
    since: StreamPosition | undefined,
    limit: number | undefined,
  ): Promise<HistoryPage> {
    const lim = Math.min(limit ?? 100, Math.max(this.#historySize, 0));
    return this.#breaker.call(() => this.#engines.history.read(channel, { since, limit: lim }));
  }

  async disconnectUser(user: string, code: number, reason: string): Promise<void> {
    await this.#breaker.call(() =>
      this.#engines.broker.publishControl({ type: 'disconnect-user', user, code, reason }),
    );
  }
}
