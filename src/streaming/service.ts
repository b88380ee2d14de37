import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { BackbeatError } from '../core/errors/index.ts';
import { runAll } from '../core/lifecycle/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import { DLQ_REPLAY_LEASE_MS, type DeadLetter, type DeadLetterStore } from './dlq/store.ts';
import { decodeEvent, musicEventRegistry, type SchemaRegistry, type StreamEvent } from './events/index.ts';
import type { TrackStats, UserListening } from './handlers/plays.ts';
import type { UserSubscribed, UserPublisher } from './handlers/recommendations.ts';
import type { ListeningSession, WindowSummary } from './handlers/trending.ts';
import { EventIngest, type IngestContext, type IngestResult } from './ingest.ts';
import { ERASURE_EVENT_TYPE, type EventLog, type LogHealth } from './log/index.ts';
import { StreamingMetrics } from './metrics.ts';
import { StreamProcessor, type EventHandler, type RetryPolicy } from './processor.ts';
import { SnapshotStore } from './snapshots/store.ts';
import type { Recommendation, UserInteraction } from './recommendations/index.ts';
import { BUILTIN_HANDLERS, BuiltinHandlers, type BuiltinQueries } from './worker/builtin.ts';
import { WorkerHost } from './worker/host.ts';

export interface StreamingOptions {
  log: EventLog;
  dlq: DeadLetterStore;
  /** Consumer group of this node's handlers. */
  group: string;
  clock: Clock;
  logger: Logger;
  registry: Registry;
  publish: UserPublisher;
  /** Whether anyone is subscribed to `user:<id>`: a recommendation push for a user nobody listens to is not computed. */
  listening?: UserSubscribed;
  owns?: (userId: string) => boolean;
  maxBatch: number;
  /** Deepest JSON nesting of one event (MAX_JSON_DEPTH). */
  maxJsonDepth?: number;
  retry: RetryPolicy;
  pushDebounceMs: number;
  maxPushesPerSec: number;
  /** The model's latent factors are retrained this often, ms (RECOMMENDATION_FACTORS_RETRAIN_MS; 0: never). @default 0 */
  factorRetrainMs?: number;
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
  /**
   * Run the built-in handlers (plays, recommendations, trending windows) in a worker thread
   * (STREAM_WORKER; src/streaming/worker/), off the intake's thread; the extra handlers stay
   * here. Off: every handler runs in this thread. @default false
   */
  worker?: boolean;
  /** Tests only: the worker accepts `crashForTest` and `faultForTest` (a built-in handler made to fail or exit). */
  workerTestHooks?: boolean;
  /** A worker that has not answered a heartbeat for this long (ms) is terminated and restarted. @default 30_000 */
  workerHangMs?: number;
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
    | 'worker'
    | 'workerTestHooks'
    | 'workerHangMs'
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
 * and the dead-letter queue. What HTTP and the gateway may use of it. With `worker`, the
 * built-in handlers run in a worker thread with a processor of their own (worker/host.ts)
 * and this thread's processor runs the extra handlers only; callers see no difference.
 */
export class StreamingService {
  readonly registry: SchemaRegistry;
  readonly metrics: StreamingMetrics;
  readonly ingest: EventIngest;
  /** This thread's processor: every handler, or (with the worker) the extra handlers only. */
  readonly #processor: StreamProcessor;
  /** Who answers the built-in handlers' queries: the handlers in this thread, or the worker. */
  readonly #builtin: BuiltinQueries;
  /** The built-in handlers when they run in this thread. */
  readonly #local: BuiltinHandlers | undefined;
  /** The worker running them otherwise (STREAM_WORKER). */
  readonly #worker: WorkerHost | undefined;
  /** The worker's snapshot directory; `enabled` false: the worker writes none (an erasure purges it from here). */
  readonly #workerSnapshots: { dir: string; keep: number; enabled: boolean } | undefined;
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
        for (const r of results)
          if (!r.duplicate) {
            this.#processor.noteAppended(r.partition, r.offset);
            this.#worker?.noteAppended(r.partition, r.offset);
          }
      },
      registry: this.registry,
      clock: opts.clock,
      metrics: this.metrics,
      logger,
      maxBatch: opts.maxBatch,
      ...(opts.maxJsonDepth ? { maxJsonDepth: opts.maxJsonDepth } : {}),
    });
    this.#maxLag = opts.maxLag ?? 1_000_000;
    const snapshotDir =
      opts.snapshotDir === false
        ? undefined
        : (opts.snapshotDir ?? (opts.dataDir ? join(opts.dataDir, 'streaming', 'snapshots') : undefined));
    const handlerOpts = {
      pushDebounceMs: opts.pushDebounceMs,
      pushItems: opts.pushItems ?? 10,
      maxPendingPushes: opts.maxPendingPushes ?? 100_000,
      ...(opts.maxKnownUsers ? { maxKnownUsers: opts.maxKnownUsers } : {}),
      maxPushesPerSec: opts.maxPushesPerSec,
      ...(opts.factorRetrainMs ? { factorRetrainMs: opts.factorRetrainMs } : {}),
    };
    if (opts.worker) {
      // The built-in handlers in a worker thread with a processor of their own: its own
      // consumer group and snapshot directory, so the two processors never touch each
      // other's positions or files (docs/architecture.md, "The stream worker").
      // As in one processor: an extra handler that cannot snapshot its state turns snapshots
      // off for both (every start replays the retained log), so both modes rebuild alike.
      const extrasSnapshot = (opts.extraHandlers ?? []).every(
        (h) => h.stateless === true || (h.snapshot !== undefined && h.restore !== undefined),
      );
      this.#workerSnapshots = snapshotDir
        ? { dir: join(snapshotDir, 'handlers'), keep: opts.snapshotKeep ?? 2, enabled: extrasSnapshot }
        : undefined;
      this.#worker = new WorkerHost({
        log: opts.log,
        dlq: opts.dlq,
        logger,
        registry: opts.registry,
        metrics: this.metrics,
        publish: opts.publish,
        ...(opts.listening ? { listening: opts.listening } : {}),
        ...(opts.owns ? { owns: opts.owns } : {}),
        ...(opts.workerHangMs ? { hangMs: opts.workerHangMs } : {}),
        workerData: {
          group: `${opts.group}.handlers`,
          logKind: opts.log.kind,
          logLevel: (logger as { level?: string }).level ?? 'info',
          retry: opts.retry,
          handlers: handlerOpts,
          ...(opts.listening ? { listening: true } : {}),
          ...(this.#workerSnapshots?.enabled
            ? {
                snapshots: {
                  dir: this.#workerSnapshots.dir,
                  keep: this.#workerSnapshots.keep,
                  everyEvents: opts.snapshotEveryEvents ?? 1_000_000,
                  everyMs: opts.snapshotEveryMs ?? 300_000,
                },
              }
            : {}),
          owns: opts.owns !== undefined,
          ...(opts.workerTestHooks ? { testHooks: true } : {}),
        },
      });
      this.#builtin = this.#worker;
    } else {
      this.#local = new BuiltinHandlers({
        ...handlerOpts,
        clock: opts.clock,
        metrics: this.metrics,
        logger,
        publish: opts.publish,
        ...(opts.listening ? { listening: opts.listening } : {}),
      });
      this.#builtin = this.#local;
    }
    this.#processor = new StreamProcessor({
      log: opts.log,
      group: opts.group,
      handlers: [...(this.#local?.list ?? []), ...(opts.extraHandlers ?? [])],
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
    try {
      await this.#worker?.start();
    } catch (err) {
      await this.#processor.close();
      throw err;
    }
    this.#started = true;
  }

  /** The stream worker's supervisor when the built-in handlers run in a worker thread (tests, operations). */
  get worker(): WorkerHost | undefined {
    return this.#worker;
  }

  /** The stream worker's metric families, for /metrics (none in-process or while it restarts). */
  async workerMetrics(): Promise<Awaited<ReturnType<WorkerHost['metrics']>>> {
    return (await this.#worker?.metrics()) ?? [];
  }

  /**
   * Intake (HTTP and the gateway's `event` command): validates, dedupes and appends durably.
   * While the handlers are more than `maxLag` records behind the log, refuses the whole
   * batch with StreamBacklogError (503 + Retry-After / 4503) and appends nothing: the log
   * is the buffer up to that point, and past it clients are told to come back.
   */
  async accept(raws: readonly unknown[], ctx: IngestContext): Promise<IngestResult> {
    const lag = this.lag();
    if (this.#maxLag > 0 && lag > this.#maxLag) {
      this.metrics.backlogRefused.labels(ctx.source).inc();
      this.metrics.lag.labels('all').set(lag);
      throw new StreamBacklogError(lag, this.#maxLag, this.#o.backlogRetryAfterMs ?? 5_000);
    }
    return this.ingest.ingest(raws, ctx);
  }

  /**
   * Records appended but not yet handled, summed over partitions (see StreamProcessor.lag);
   * with the worker, the larger of this thread's and the worker's (known here from its
   * acknowledgements). Synchronous: intake reads it for every batch.
   */
  lag(): number {
    return this.#worker ? Math.max(this.#processor.lag, this.#worker.lag) : this.#processor.lag;
  }

  // ---- queries: answered by the built-in handlers, in this thread or in the worker (a
  // request over its MessagePort, with a timeout; 503 `unavailable` while it restarts).

  /** SPEC §4 `GET /v1/users/{id}/recommendations`: the online model, or the popularity baseline for users it has not seen. */
  recommend(userId: string, limit: number): Promise<RecommendationList> {
    return this.#builtin.recommend(userId, limit);
  }

  /** `GET /v1/users/{id}/listening`: counts, bounded history and the current session (zeros for an unknown user). */
  userListening(userId: string): Promise<UserListeningView> {
    return this.#builtin.userListening(userId);
  }

  /** `GET /v1/tracks/{id}/stats` (zeros for a track nobody played). */
  trackStats(trackId: string): Promise<TrackStatsView> {
    return this.#builtin.trackStats(trackId);
  }

  /** The trending windows' latest results. */
  windows(): Promise<WindowsView> {
    return this.#builtin.windows();
  }

  /**
   * `POST /v1/events/dlq/replay`: dead letters (all, or the given ids) through their handler
   * again. With the worker, letters of a built-in handler are replayed there (one request
   * per letter; the DLQ bookkeeping stays here), the others by this thread's processor.
   */
  async replayDeadLetters(ids?: readonly string[], limit = 1000): Promise<DeadLetterReplay> {
    const worker = this.#worker;
    if (!worker) return this.#processor.replayDeadLetters(ids, limit);
    const dlq = this.#o.dlq;
    const letters = ids ? await dlq.get(ids) : await dlq.list({ limit });
    const inWorker = new Set(letters.filter((l) => BUILTIN_HANDLERS.has(l.handler)).map((l) => l.id));
    const here = ids
      ? ids.filter((id) => !inWorker.has(id))
      : letters.map((l) => l.id).filter((id) => !inWorker.has(id));
    const out: DeadLetterReplay =
      here.length > 0
        ? await this.#processor.replayDeadLetters(here, limit)
        : { replayed: 0, succeeded: [], failed: [] };
    if (inWorker.size === 0) return out;
    const items = await dlq.take({ ids: [...inWorker], limit: inWorker.size, leaseMs: DLQ_REPLAY_LEASE_MS });
    out.replayed += items.length;
    for (const [i, dl] of items.entries()) {
      let r;
      try {
        r = await worker.replayOne(dl.handler, dl.event, dl.partition, dl.offset);
      } catch (err) {
        // The worker is down: the rest are given back untouched.
        const rest = items.slice(i).map((d) => d.id);
        await dlq.release(rest);
        for (const id of rest) out.failed.push({ id, error: (err as Error).message });
        break;
      }
      if (r.ok) {
        await dlq.remove([dl.id]);
        out.succeeded.push(dl.id);
      } else {
        await dlq.put({
          ...dl,
          attempts: 1,
          lastFailedAt: this.#o.clock.now(),
          error: { code: r.code, message: r.message, retriable: r.retriable },
        });
        out.failed.push({ id: dl.id, error: r.message });
      }
    }
    this.metrics.deadLetters.set(await dlq.count());
    return out;
  }

  /** Resolves once every record appended so far has been handled (tests, drain, benchmarks). */
  async caughtUp(timeoutMs?: number): Promise<void> {
    await Promise.all([this.#processor.caughtUp(timeoutMs), this.#worker?.caughtUp(timeoutMs)]);
  }

  /** Events handled since start (live and replayed) by the built-in handlers' processor (the worker's, as of its last acknowledgement). */
  get handled(): number {
    return this.#worker ? this.#worker.handled : this.#processor.handled;
  }

  /** Writes a snapshot of the handlers' state now and waits until it is durable (operations, tests); with the worker, both processors', the worker's name returned. */
  async snapshotNow(): Promise<string | undefined> {
    const [here, worker] = await Promise.all([this.#processor.snapshotNow(), this.#worker?.snapshotNow()]);
    return worker ?? here?.name;
  }

  /** Stops handling (the batch in flight finishes; a last snapshot is written); intake keeps appending. */
  async pauseProcessing(): Promise<void> {
    await Promise.all([this.#processor.close(), this.#worker?.pause()]);
  }

  /** Starts handling again after `pauseProcessing` (restoring from the snapshot it wrote). */
  async resumeProcessing(): Promise<void> {
    await Promise.all([this.#processor.start(), this.#worker?.resume()]);
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
    return {
      events,
      ...(await this.#builtin.exportUser(userId)),
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
    const worker = this.#worker;
    if (log.marker && this.#started) {
      await this.#processor.forget(userId);
      await this.#processor.reached(log.marker.partition, log.marker.offset);
      await this.#processor.purgeSnapshots();
      if (worker) {
        // Waits for a restarting worker: its snapshots must not keep the user either.
        await worker.forget(userId);
        await worker.reached(log.marker.partition, log.marker.offset);
        await worker.purgeSnapshots();
      }
    } else {
      await this.#processor.erase(userId);
      if (worker && this.#started) await worker.erase(userId);
    }
    // Files the worker does not manage now (before start, or its snapshots are off) go from here.
    const ws = this.#workerSnapshots;
    if (ws && (!this.#started || !ws.enabled)) await new SnapshotStore(ws.dir, ws.keep).purge();
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
    // With the worker, the processor of the built-in handlers is the worker's.
    const worker = await this.#worker?.stats();
    return {
      log: { engine: this.#o.log.kind, heads: await this.#o.log.heads(), group: this.#o.group },
      processor: {
        handled: worker?.handled ?? this.#processor.handled,
        applied: worker?.applied ?? Object.fromEntries(this.#processor.applied),
        lag: this.lag(),
        maxLag: this.#maxLag,
        snapshots: worker?.snapshots ?? this.#processor.snapshotsEnabled,
      },
      deadLetters: await this.#o.dlq.count(),
      plays: await this.#builtin.sizes(),
      windows: await this.#builtin.windows(),
    };
  }

  async close(): Promise<void> {
    const o = this.#o;
    await runAll(
      [
        ['processor', () => (this.#started ? this.#processor.close() : undefined)],
        // The worker writes its last snapshot, then its thread ends (before the log closes).
        ['stream worker', () => this.#worker?.close()],
        ['recommendation pushes and windows', () => this.#local?.close()],
        ['event log', () => o.log.close()],
        ['dead-letter store', () => o.dlq.close()],
      ],
      o.logger,
    );
  }
}
