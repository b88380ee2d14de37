import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { BackbeatError } from '../core/errors/index.ts';
import { runAll } from '../core/lifecycle/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { DeadLetter, DeadLetterStore } from './dlq/store.ts';
import { decodeEvent, musicEventRegistry, type SchemaRegistry, type StreamEvent } from './events/index.ts';
import { emptyTrack, PlaysHandler, type TrackStats, type UserListening } from './handlers/plays.ts';
import { RecommendationsHandler, type UserPublisher } from './handlers/recommendations.ts';
import { TrendingHandler, type ListeningSession, type WindowSummary } from './handlers/trending.ts';
import { EventIngest, type IngestContext, type IngestResult } from './ingest.ts';
import { ERASURE_EVENT_TYPE, type EventLog, type LogHealth } from './log/index.ts';
import { StreamingMetrics } from './metrics.ts';
import { StreamProcessor, type EventHandler, type RetryPolicy } from './processor.ts';
import { SnapshotStore } from './snapshots/store.ts';
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
  /** Items in a pushed recommendation list (RECOMMENDATION_PUSH_ITEMS). @default 10 */
  pushItems?: number;
  /** Users with a recommendation push pending at most (RECOMMENDATION_MAX_PENDING_PUSHES). @default 100_000 */
  maxPendingPushes?: number;
  /** Users whose last play time the recommendations handler remembers (RECOMMENDATION_MAX_USERS). @default 1_000_000 */
  maxKnownUsers?: number;
  /** Handlers run after the built-in ones. */
  extraHandlers?: EventHandler[];
  /** DATA_DIR: the default snapshot directory is `<dataDir>/streaming/snapshots`. */
  dataDir?: string;
  /**
   * Where snapshots of the handlers' state go (STREAM_SNAPSHOT_DIR; STREAM_SNAPSHOTS=false: `false`).
   * Default `<dataDir>/streaming/snapshots` when `dataDir` is set; neither: no snapshots
   * (every start replays the whole retained log). `false` turns them off.
   */
  snapshotDir?: string | false;
  /** A snapshot after this many handled events (STREAM_SNAPSHOT_EVERY_EVENTS). @default 1_000_000 */
  snapshotEveryEvents?: number;
  /** …or this long after the last one if anything was handled since, ms (STREAM_SNAPSHOT_EVERY_MS). @default 300_000 */
  snapshotEveryMs?: number;
  /** Snapshot files kept (STREAM_SNAPSHOT_KEEP). @default 2 */
  snapshotKeep?: number;
  /**
   * Most records appended but not yet handled (summed over partitions) before intake
   * refuses new events with 503 + Retry-After / 4503 (STREAM_MAX_LAG). 0 turns the check
   * off. @default 1_000_000
   */
  maxLag?: number;
  /** Retry-After given with a refusal over `maxLag`, ms (STREAM_BACKLOG_RETRY_AFTER_MS). @default 5_000 */
  backlogRetryAfterMs?: number;
}

/** Tuning an embedder or a test may set over the configuration (`AppDeps.streaming`). */
export type StreamingTuning = Partial<
  Pick<
    StreamingOptions,
    | 'snapshotDir'
    | 'snapshotEveryEvents'
    | 'snapshotEveryMs'
    | 'snapshotKeep'
    | 'maxLag'
    | 'backlogRetryAfterMs'
  >
>;

/** What `GET /v1/users/{id}/listening` answers. */
export interface UserListeningView extends Omit<UserListening, 'session'> {
  user: string;
  session: UserListening['session'] | null;
}

/** What `GET /v1/tracks/{id}/stats` answers. */
export interface TrackStatsView extends TrackStats {
  trackId: string;
}

/** What `GET /v1/users/{id}/recommendations` answers. */
export interface RecommendationList {
  items: Recommendation[];
  model: string;
  updatedAt: string | null;
}

/** What `POST /v1/events/dlq/replay` answers. */
export interface DeadLetterReplay {
  replayed: number;
  succeeded: string[];
  failed: Array<{ id: string; error: string }>;
}

/** The trending windows' latest results (`GET /v1/events/stats` → windows). */
export interface WindowsView {
  minutes: WindowSummary[];
  trending: WindowSummary | null;
  sessions: ListeningSession[];
  lateEvents: number;
}

/** Intake refused: the handlers are more than `maxLag` records behind the log (SPEC: 503 / 4503). */
export class StreamBacklogError extends BackbeatError {
  constructor(lag: number, maxLag: number, retryAfterMs: number) {
    super('STREAM_BACKLOG', `the event stream is ${lag} events behind (limit ${maxLag}); retry later`, {
      details: { retryAfterMs },
    });
    this.name = 'StreamBacklogError';
  }
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
  readonly #processor: StreamProcessor;
  readonly #plays: PlaysHandler;
  readonly #recommendations: RecommendationsHandler;
  readonly #trending: TrendingHandler;
  readonly #o: StreamingOptions;
  readonly #maxLag: number;
  #started = false;

  constructor(opts: StreamingOptions) {
    this.#o = opts;
    this.registry = musicEventRegistry();
    this.metrics = new StreamingMetrics(opts.registry);
    const logger = opts.logger;
    this.ingest = new EventIngest({
      log: opts.log,
      // Every append tells the processor the new heads (lag, backpressure).
      onAppended: (results) => {
        for (const r of results) if (!r.duplicate) this.#processor.noteAppended(r.partition, r.offset);
      },
      registry: this.registry,
      clock: opts.clock,
      metrics: this.metrics,
      logger,
      maxBatch: opts.maxBatch,
      ...(opts.maxJsonDepth ? { maxJsonDepth: opts.maxJsonDepth } : {}),
    });
    this.#plays = new PlaysHandler({}, this.metrics);
    this.#recommendations = new RecommendationsHandler({
      model: new ItemKnnRecommender(),
      clock: opts.clock,
      metrics: this.metrics,
      logger,
      publish: opts.publish,
      pushDebounceMs: opts.pushDebounceMs,
      pushItems: opts.pushItems ?? 10,
      maxPendingPushes: opts.maxPendingPushes ?? 100_000,
      ...(opts.maxKnownUsers ? { maxKnownUsers: opts.maxKnownUsers } : {}),
      maxPushesPerSec: opts.maxPushesPerSec,
    });
    this.#trending = new TrendingHandler({ metrics: this.metrics });
    this.#maxLag = opts.maxLag ?? 1_000_000;
    const snapshotDir =
      opts.snapshotDir === false
        ? undefined
        : (opts.snapshotDir ?? (opts.dataDir ? join(opts.dataDir, 'streaming', 'snapshots') : undefined));
    this.#processor = new StreamProcessor({
      log: opts.log,
      group: opts.group,
      handlers: [this.#plays, this.#recommendations, this.#trending, ...(opts.extraHandlers ?? [])],
      ...(snapshotDir
        ? {
            snapshots: {
              store: new SnapshotStore(snapshotDir, opts.snapshotKeep ?? 2),
              everyEvents: opts.snapshotEveryEvents ?? 1_000_000,
              everyMs: opts.snapshotEveryMs ?? 300_000,
            },
          }
        : {}),
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
    await this.#processor.start();
    this.#started = true;
  }

  /**
   * Intake (HTTP and the gateway's `event` command): validates, dedupes and appends durably.
   * While the handlers are more than `maxLag` records behind the log, refuses the whole
   * batch with StreamBacklogError (503 + Retry-After / 4503) and appends nothing: the log
   * is the buffer up to that point, and past it clients are told to come back.
   */
  async accept(raws: readonly unknown[], ctx: IngestContext): Promise<IngestResult> {
    const lag = this.#processor.lag;
    if (this.#maxLag > 0 && lag > this.#maxLag) {
      this.metrics.backlogRefused.labels(ctx.source).inc();
      this.metrics.lag.labels('all').set(lag);
      throw new StreamBacklogError(lag, this.#maxLag, this.#o.backlogRetryAfterMs ?? 5_000);
    }
    return this.ingest.ingest(raws, ctx);
  }

  /** Records appended but not yet handled, summed over partitions (see StreamProcessor.lag). */
  lag(): number {
    return this.#processor.lag;
  }

  // ---- queries: synchronous reads of in-memory state today. They return promises so that
  // the handlers can move behind a message port (a worker thread) without changing callers.

  /** SPEC §4 `GET /v1/users/{id}/recommendations`: the online model, or the popularity baseline for users it has not seen. */
  async recommend(userId: string, limit: number): Promise<RecommendationList> {
    return this.#recommendations.recommend(userId, limit);
  }

  /** `GET /v1/users/{id}/listening`: counts, bounded history and the current session (zeros for an unknown user). */
  async userListening(userId: string): Promise<UserListeningView> {
    const u = this.#plays.user(userId);
    return u
      ? { user: userId, ...structuredClone(u), session: u.session ? { ...u.session } : null }
      : { user: userId, plays: 0, skips: 0, likes: 0, history: [], sessions: 0, session: null };
  }

  /** `GET /v1/tracks/{id}/stats` (zeros for a track nobody played). */
  async trackStats(trackId: string): Promise<TrackStatsView> {
    return { trackId, ...(this.#plays.track(trackId) ?? emptyTrack()) };
  }

  /** The trending windows' latest results. */
  async windows(): Promise<WindowsView> {
    return this.#trending.latest();
  }

  /** `POST /v1/events/dlq/replay`: dead letters (all, or the given ids) through their handler again. */
  replayDeadLetters(ids?: readonly string[], limit?: number): Promise<DeadLetterReplay> {
    return this.#processor.replayDeadLetters(ids, limit);
  }

  /** Resolves once every record appended so far has been handled (tests, drain, benchmarks). */
  caughtUp(timeoutMs?: number): Promise<void> {
    return this.#processor.caughtUp(timeoutMs);
  }

  /** Events handled since start (live and replayed). */
  get handled(): number {
    return this.#processor.handled;
  }

  /** Writes a snapshot of the handlers' state now and waits until it is durable (operations, tests). */
  async snapshotNow(): Promise<string | undefined> {
    return (await this.#processor.snapshotNow())?.name;
  }

  /** Stops handling (the batch in flight finishes; a last snapshot is written); intake keeps appending. */
  pauseProcessing(): Promise<void> {
    return this.#processor.close();
  }

  /** Starts handling again after `pauseProcessing` (restoring from the snapshot it wrote). */
  resumeProcessing(): Promise<void> {
    return this.#processor.start();
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
    const listening = this.#plays.user(userId);
    return {
      events,
      listening: listening ? structuredClone(listening) : null,
      recommendations: {
        ...this.#recommendations.exportUser(userId),
        items: this.#recommendations.recommend(userId, 10).items,
      },
      sessions: this.#trending.sessionsOf(userId),
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
   * there). Then no snapshot of the handlers' state on disk may hold the user: a fresh
   * one is written and the older ones are scrubbed (before start: all of them go). Last,
   * the user's dead letters go (secure delete + checkpoint).
   */
  async eraseUser(userId: string): Promise<StreamingErasure> {
    const log = await this.#o.log.eraseKey(userId);
    if (log.marker && this.#started) {
      await this.#processor.forget(userId);
      await this.#processor.reached(log.marker.partition, log.marker.offset);
      await this.#processor.purgeSnapshots();
    } else await this.#processor.erase(userId);
    const deadLetters = await this.#o.dlq.eraseUser(userId);
    this.metrics.deadLetters.set(await this.#o.dlq.count());
    return { events: log.deleted, keysDestroyed: log.keysDestroyed, deadLetters };
  }

  /** `GET /v1/events/stats`: log heads, processor progress and lag, dead letters, state sizes, latest windows. */
  async stats(): Promise<{
    log: { engine: EventLog['kind']; heads: Record<number, number>; group: string };
    processor: {
      handled: number;
      applied: Record<string, number>;
      lag: number;
      maxLag: number;
      snapshots: boolean;
    };
    deadLetters: number;
    plays: { tracks: number; artists: number; users: number };
    windows: WindowsView;
  }> {
    return {
      log: { engine: this.#o.log.kind, heads: await this.#o.log.heads(), group: this.#o.group },
      processor: {
        handled: this.#processor.handled,
        applied: Object.fromEntries(this.#processor.applied),
        lag: this.#processor.lag,
        maxLag: this.#maxLag,
        snapshots: this.#processor.snapshotsEnabled,
      },
      deadLetters: await this.#o.dlq.count(),
      plays: this.#plays.sizes,
      windows: this.#trending.latest(),
    };
  }

  async close(): Promise<void> {
    const o = this.#o;
    await runAll(
      [
        ['processor', () => (this.#started ? this.#processor.close() : undefined)],
        ['recommendation pushes', () => this.#recommendations.close()],
        ['windows', () => this.#trending.close()],
        ['event log', () => o.log.close()],
        ['dead-letter store', () => o.dlq.close()],
      ],
      o.logger,
    );
  }
}
