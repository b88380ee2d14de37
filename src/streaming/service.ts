import type { Registry } from 'prom-client';
import { runAll } from '../core/lifecycle/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { DeadLetter, DeadLetterStore } from './dlq/store.ts';
import { decodeEvent, musicEventRegistry, type SchemaRegistry, type StreamEvent } from './events/index.ts';
import { PlaysHandler, type UserListening } from './handlers/plays.ts';
import { RecommendationsHandler, type UserPublisher } from './handlers/recommendations.ts';
import { TrendingHandler, type ListeningSession } from './handlers/trending.ts';
import { EventIngest, type IngestContext, type IngestResult } from './ingest.ts';
import { ERASURE_EVENT_TYPE, type EventLog, type LogHealth } from './log/index.ts';
import { StreamingMetrics } from './metrics.ts';
import { StreamProcessor, type EventHandler, type RetryPolicy } from './processor.ts';
import { ItemKnnRecommender, type Recommendation, type UserInteraction } from './recommendations/index.ts';

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

/** Everything the event stream holds about one user (GDPR export, SPEC §7). */
export interface StreamingUserExport {
  /** The user's events still in the log, oldest first, as stored (normalized). */
  events: StreamEvent[];
  /** Counts, bounded recent history and the current listening session (plays handler). */
  listening: UserListening | null;
  /** The recommendation model's state about the user and the list it would give now. */
  recommendations: {
    known: boolean;
    updatedAt: string | null;
    history: UserInteraction[];
    items: Recommendation[];
  };
  /** Closed listening sessions still kept by the session windows. */
  sessions: ListeningSession[];
  /** The user's events in the dead-letter queue, with their errors. */
  deadLetters: DeadLetter[];
}

/** What `eraseUser` removed. */
export interface StreamingErasure {
  /** Records deleted from the embedded log. */
  events: number;
  /** Data keys destroyed (Kafka: the user's records in the topic are unreadable from now on). */
  keysDestroyed: number;
  deadLetters: number;
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
    this.ingest = new EventIngest({
      log: opts.log,
      registry: this.registry,
      clock: opts.clock,
      metrics: this.metrics,
      logger,
      maxBatch: opts.maxBatch,
      ...(opts.maxJsonDepth ? { maxJsonDepth: opts.maxJsonDepth } : {}),
    });
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
      // An erasure marker from another node (Kafka): drop this node's cached data keys of the user too.
      onErased: (userId) => opts.log.forgetKey?.(userId),
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

  /**
   * GDPR export (SPEC §7): every event of the user still in the log (Kafka: a scan of the
   * user's partition, decrypted), what the handlers keep about the user, and the user's
   * dead letters.
   */
  async exportUser(userId: string): Promise<StreamingUserExport> {
    const events: StreamEvent[] = [];
    for (const r of await this.#o.log.readKey(userId)) {
      try {
        const e = decodeEvent(r.body);
        if (e.type !== ERASURE_EVENT_TYPE) events.push(e);
      } catch {
        // Not an event (corrupt): it is in the dead-letter queue, exported below.
      }
    }
    const listening = this.plays.user(userId);
    return {
      events,
      listening: listening ? structuredClone(listening) : null,
      recommendations: {
        ...this.recommendations.exportUser(userId),
        items: this.recommendations.recommend(userId, 10).items,
      },
      sessions: this.trending.sessionsOf(userId),
      deadLetters: await this.#o.dlq.forUser(userId),
    };
  }

  /**
   * GDPR erasure (SPEC §7), idempotent. The log first: SQLite deletes the user's records
   * (secure_delete, WAL checkpointed and truncated); Kafka destroys the user's data keys
   * (their records become unreadable, shredded) and appends an erasure marker. Then the
   * batch being handled is let finish, and every handler forgets the user (history,
   * sessions, the model's per-user state; aggregates without ids stay). On Kafka this
   * waits until this node's processor has reached the marker (every node forgets the user
   * there). Last, the user's dead letters go (secure delete + checkpoint).
   */
  async eraseUser(userId: string): Promise<StreamingErasure> {
    const log = await this.#o.log.eraseKey(userId);
    await this.processor.settled();
    await this.processor.forget(userId);
    if (log.marker && this.#started) await this.processor.reached(log.marker.partition, log.marker.offset);
    const deadLetters = await this.#o.dlq.eraseUser(userId);
    this.metrics.deadLetters.set(await this.#o.dlq.count());
    return { events: log.deleted, keysDestroyed: log.keysDestroyed, deadLetters };
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
