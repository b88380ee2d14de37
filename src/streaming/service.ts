import type { Registry } from 'prom-client';
import { runAll } from '../core/lifecycle/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { DeadLetter, DeadLetterStore } from './dlq/store.ts';
import { musicEventRegistry, type SchemaRegistry } from './events/index.ts';
import { PlaysHandler } from './handlers/plays.ts';
import { RecommendationsHandler, type UserPublisher } from './handlers/recommendations.ts';
import { TrendingHandler } from './handlers/trending.ts';
import { EventIngest, type IngestContext, type IngestResult } from './ingest.ts';
import type { EventLog, LogHealth } from './log/index.ts';
import { StreamingMetrics } from './metrics.ts';
import { StreamProcessor, type EventHandler, type RetryPolicy } from './processor.ts';
import { ItemKnnRecommender } from './recommendations/index.ts';

export interface StreamingOptions {
  log: EventLog;
  dlq: DeadLetterStore;
  /** Consumer group of this node's handlers. */
  group: string;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  publish: UserPublisher;
  owns?: (userId: string) => boolean;
  maxBatch: number;
  /** Deepest JSON nesting of one event (MAX_JSON_DEPTH). */
  maxJsonDepth?: number;
  retry: RetryPolicy;
  pushDebounceMs: number;
  maxPushesPerSec: number;
  /** Handlers run after the built-in ones. */
  extraHandlers?: EventHandler[];
}

/**
 * The event stream capability, assembled: intake (validation, dedupe, durable append),
 * the log, the processor with its handlers (plays, recommendations, trending windows)
 * and the dead-letter queue. What HTTP and the gateway may use of it.
 */
export class StreamingService {
  readonly registry: SchemaRegistry;
  readonly metrics: StreamingMetrics;
  readonly ingest: EventIngest;
  readonly processor: StreamProcessor;
  readonly plays: PlaysHandler;
  readonly recommendations: RecommendationsHandler;
  readonly trending: TrendingHandler;
  readonly #o: StreamingOptions;
  #started = false;

  constructor(opts: StreamingOptions) {
    this.#o = opts;
    this.registry = musicEventRegistry();
    this.metrics = new StreamingMetrics(opts.registry);
    const logger = opts.logger;
    this.ingest = new EventIngest({ log: opts.log, registry: this.registry, clock: opts.clock, metrics: this.metrics, logger, maxBatch: opts.maxBatch, ...(opts.maxJsonDepth ? { maxJsonDepth: opts.maxJsonDepth } : {}) });
    this.plays = new PlaysHandler({}, this.metrics);
    this.recommendations = new RecommendationsHandler({
      model: new ItemKnnRecommender(),
      clock: opts.clock,
      metrics: this.metrics,
      logger,
      publish: opts.publish,
      pushDebounceMs: opts.pushDebounceMs,
      pushItems: 10,
      maxPendingPushes: 100_000,
      maxPushesPerSec: opts.maxPushesPerSec,
    });
    this.trending = new TrendingHandler({ metrics: this.metrics });
    this.processor = new StreamProcessor({
      log: opts.log,
      group: opts.group,
      handlers: [this.plays, this.recommendations, this.trending, ...(opts.extraHandlers ?? [])],
      dlq: opts.dlq,
      metrics: this.metrics,
      logger,
      clock: opts.clock,
      retry: opts.retry,
      ...(opts.owns ? { owns: opts.owns } : {}),
    });
  }

  get logKind(): EventLog['kind'] {
    return this.#o.log.kind;
  }

  async start(): Promise<void> {
    await this.#o.log.start();
    this.metrics.deadLetters.set(await this.#o.dlq.count());
    await this.processor.start();
    this.#started = true;
  }

  accept(raws: readonly unknown[], ctx: IngestContext): Promise<IngestResult> {
    return this.ingest.ingest(raws, ctx);
  }

  health(): LogHealth {
    return this.#o.log.health();
  }

  deadLetters(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    return this.#o.dlq.list(opts);
  }

  deadLetterCount(): Promise<number> {
    return this.#o.dlq.count();
  }

  async stats(): Promise<Record<string, unknown>> {
    return {
      log: { engine: this.#o.log.kind, heads: await this.#o.log.heads(), group: this.#o.group },
      processor: { handled: this.processor.handled, applied: Object.fromEntries(this.processor.applied) },
      deadLetters: await this.#o.dlq.count(),
      plays: this.plays.sizes,
      windows: this.trending.latest(),
    };
  }

  async close(): Promise<void> {
    const o = this.#o;
    await runAll(
      [
        ['processor', () => (this.#started ? this.processor.close() : undefined)],
        ['recommendation pushes', () => this.recommendations.close()],
        ['windows', () => this.trending.close()],
        ['event log', () => o.log.close()],
        ['dead-letter store', () => o.dlq.close()],
      ],
      o.logger,
    );
  }
}
