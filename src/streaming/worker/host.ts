import { Worker } from 'node:worker_threads';
import { Counter, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import { BackbeatError } from '../../core/errors/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import { backoffMs } from '../../core/resilience/index.ts';
import type { DeadLetterStore } from '../dlq/store.ts';
import type { StreamEvent } from '../events/index.ts';
import type { UserSubscribed, UserPublisher } from '../handlers/recommendations.ts';
import type { ConsumeOptions, EventLog, LogConsumer, RecordBatch } from '../log/port.ts';
import type { StreamingMetrics } from '../metrics.ts';
import type { RecommendationList, TrackStatsView, UserListeningView, WindowsView } from '../service.ts';
import type { BuiltinQueries, BuiltinUserExport } from './builtin.ts';
import type { ReplayOutcome, WorkerData, WorkerStats } from './protocol.ts';
import { RpcPeer } from './rpc.ts';

export interface WorkerHostOptions {
  /** The real log and dead-letter store (the main thread's). */
  log: EventLog;
  dlq: DeadLetterStore;
  logger: Logger;
  /** The main registry: the restart counter goes there. */
  registry: Registry;
  /** The main thread's streaming metrics (the dead-letter gauge). */
  metrics: StreamingMetrics;
  publish: UserPublisher;
  listening?: UserSubscribed;
  owns?: (userId: string) => boolean;
  workerData: WorkerData;
  /** Backoff between restarts of a crashed worker, ms: first step (doubles, full jitter) and most. @default 100, 5000 */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** How long a query waits for the worker's answer, ms. @default 30_000 */
  timeoutMs?: number;
  /**
   * A running worker is pinged every `hangMs / 3`; one that has not answered for `hangMs`
   * (an endless loop, a deadlock in a native call) is terminated, counted and restarted
   * like a crashed one. @default 30_000
   */
  hangMs?: number;
  /** Starts a worker (tests: runtime.ts over a MessageChannel in this thread). @default a worker_threads Worker on entry.ts */
  spawn?: (data: WorkerData) => WorkerLike;
}

/**
 * Most records handed to the worker in one batch. Each crossing waits for a turn of the
 * main thread's event loop (behind whatever intake batch it is parsing), so small batches
 * left the worker idle half the time under load: 500 → 4,000 measured 19.3k/17.4k →
 * 26.4k/22.3k events/s end to end (bench/streaming/ingest.ts, 2 cores). A batch only
 * fills up when there is a backlog; caught up, the worker gets what is there.
 */
const WORKER_BATCH = 4000;

/** What the host uses of a `Worker`. */
export type WorkerLike = Pick<Worker, 'postMessage' | 'on' | 'off' | 'once' | 'terminate'>;

const spawnThread = (data: WorkerData): WorkerLike =>
  new Worker(new URL('./entry.ts', import.meta.url), { workerData: data, name: 'backbeat-stream-worker' });

type Metrics = Array<MetricObjectWithValues<MetricValue<string>>>;

/** One run of the worker thread, from spawn to exit. */
interface Run {
  worker: WorkerLike;
  rpc: RpcPeer;
  /** Consumers of the real log opened for this run (by the worker's id). */
  consumers: Map<number, Promise<LogConsumer | undefined>>;
  /** Resolves once the worker's processor started (snapshot restored, consuming); rejects if it failed or exited. */
  started: Promise<void>;
  up: boolean;
  exited: boolean;
  /** When the worker last answered a heartbeat (or came up). */
  answeredAt: number;
  heartbeat?: NodeJS.Timeout;
}

const unavailable = (what: string) => new BackbeatError('UNAVAILABLE', what);

/**
 * Runs the built-in stream handlers in a `worker_threads` worker (entry.ts) and keeps it
 * running: the supervisor on the main thread.
 *
 * - It serves the worker's ports: `consume` opens a consumer of the REAL log for the
 *   worker's group and posts each batch to the worker, resolving (so the log commits) only
 *   once the worker acknowledged it; `heads`, the dead-letter store, recommendation pushes.
 * - Queries from StreamingService go to the worker as requests with a timeout; while the
 *   worker is down they fail at once with 503 `unavailable` (GDPR erasure, `caughtUp`,
 *   `snapshotNow` and the DLQ replay wait for it instead, within their timeout).
 * - `lag` is synchronous and cheap: the newest heads known here (intake's appends, the
 *   log's heads read at most once a second) minus what the worker acknowledged.
 * - A worker that stops answering its heartbeat for `hangMs` is terminated, which makes it
 *   one that exits:
 * - A worker that exits (a crash, an uncaught error) is logged, counted
 *   (`backbeat_streaming_worker_restarts_total`) and started again after a backoff; its
 *   consumers are closed first, so batches it had not acknowledged are not committed. The
 *   new worker restores its newest snapshot and consumes from just after it: records up
 *   to the committed position come flagged `replay` (state rebuilt, no pushes), later ones
 *   live: nothing lost, nothing counted twice.
 */
export class WorkerHost implements BuiltinQueries {
  readonly #o: WorkerHostOptions;
  readonly #restarts: Counter;
  readonly #heads = new Map<number, number>();
  readonly #applied = new Map<number, number>();
  #headsAt = 0;
  #handled = 0;
  #run: Run | undefined;
  #attempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Resolves when a run is up; replaced by a pending one when the worker goes down. */
  #ready!: Promise<void>;
  #markReady!: () => void;
  #closing = false;
  #paused = false;
  #exitDone: Promise<void> = Promise.resolve();

  constructor(opts: WorkerHostOptions) {
    this.#o = opts;
    this.#restarts = new Counter({
      name: 'backbeat_streaming_worker_restarts_total',
      help: 'Restarts of the stream worker thread (the built-in handlers) after it exited unexpectedly',
      registers: [opts.registry],
    });
    this.#resetReady();
  }

  #resetReady(): void {
    this.#ready = new Promise<void>((r) => (this.#markReady = r));
  }

  /** Starts the worker and waits until its processor is consuming (throws if it cannot start). */
  async start(): Promise<void> {
    this.#closing = false;
    const run = this.#spawn();
    try {
      await run.started;
    } catch (err) {
      await this.#stop(run);
      throw err;
    }
  }

  /** Whether the worker is running and answering. */
  get up(): boolean {
    return this.#run?.up ?? false;
  }

  /** Records appended but not handled by the worker yet, summed over partitions (see StreamProcessor.lag). */
  get lag(): number {
    let lag = 0;
    for (const [p, head] of this.#heads) lag += Math.max(0, head - (this.#applied.get(p) ?? 0));
    return lag;
  }

  /** Events the current worker handled since it started (live and replayed), as of its last acknowledgement. */
  get handled(): number {
    return this.#handled;
  }

  noteAppended(partition: number, offset: number): void {
    if (offset > (this.#heads.get(partition) ?? -1)) this.#heads.set(partition, offset);
  }

  #spawn(): Run {
    const worker = (this.#o.spawn ?? spawnThread)(this.#o.workerData);
    const consumers = new Map<number, Promise<LogConsumer | undefined>>();
    const rpc = new RpcPeer(worker, {
      heads: () => this.#o.log.heads(),
      consume: (cid: number, group: string, from: ConsumeOptions['from'], maxBatch: number) => {
        const opening = this.#consume(run, cid, group, from, maxBatch);
        consumers.set(
          cid,
          opening.catch(() => undefined),
        );
        return opening.then(() => undefined);
      },
      consumerClose: async (cid: number) => {
        const c = await consumers.get(cid);
        consumers.delete(cid);
        await c?.close();
      },
      dlq: async (method: keyof DeadLetterStore, args: unknown[]) => {
        const dlq = this.#o.dlq;
        const r = await (dlq[method] as (...a: unknown[]) => Promise<unknown>).apply(dlq, args);
        if (method === 'put') this.#o.metrics.deadLetters.set(await dlq.count());
        return r;
      },
      publish: (userId: string, data: unknown) => this.#o.publish(userId, data).then(() => undefined),
      listening: (userId: string) => this.#o.listening?.(userId) ?? true,
      forgetKey: (userId: string) => this.#o.log.forgetKey?.(userId),
    });
    const run: Run = {
      worker,
      rpc,
      consumers,
      started: Promise.resolve(),
      up: false,
      exited: false,
      answeredAt: Date.now(),
    };
    this.#run = run;
    worker.on('error', (err) => this.#o.logger.error({ err }, 'stream worker failed'));
    worker.on('exit', (code) => {
      this.#exitDone = this.#onExit(run, code);
    });
    run.started = (this.#paused ? Promise.resolve() : rpc.call<void>('start', [], 0)).then(() => {
      run.up = true;
      this.#attempt = 0;
      run.answeredAt = Date.now();
      this.#heartbeat(run);
      this.#markReady();
    });
    return run;
  }

  /** Pings the running worker; terminates it when it has not answered for `hangMs` (its exit restarts it). */
  #heartbeat(run: Run): void {
    const hangMs = this.#o.hangMs ?? 30_000;
    const every = Math.max(10, Math.floor(hangMs / 3));
    run.heartbeat = setInterval(() => {
      if (run.exited || this.#closing) {
        clearInterval(run.heartbeat);
        return;
      }
      const silentMs = Date.now() - run.answeredAt;
      if (silentMs >= hangMs) {
        clearInterval(run.heartbeat);
        this.#o.logger.error(
          { silentMs, hangMs },
          'stream worker stopped answering; terminating it (it restarts from its newest snapshot)',
        );
        void run.worker.terminate();
        return;
      }
      run.rpc.call('ping', [], hangMs).then(
        () => (run.answeredAt = Date.now()),
        () => undefined,
      );
    }, every);
    run.heartbeat.unref();
  }

  async #consume(
    run: Run,
    cid: number,
    group: string,
    from: ConsumeOptions['from'],
    maxBatch: number,
  ): Promise<LogConsumer> {
    // The worker's position: lag counts from where it resumes (a replay after a restart too).
    if (from === 'earliest') this.#applied.clear();
    else if (typeof from === 'object') {
      this.#applied.clear();
      for (const [p, o] of Object.entries(from.after)) this.#applied.set(Number(p), o);
    }
    await this.#refreshHeads(true);
    const owns = this.#o.owns;
    const consumer = await this.#o.log.consume(
      group,
      async (batch: RecordBatch) => {
        const notOwned = owns
          ? [...new Set(batch.records.filter((r) => !owns(r.key)).map((r) => r.key))]
          : undefined;
        // The parsed events stay here (the worker parses the bodies): cloning them costs more.
        const records = batch.records.map((r) =>
          r.value === undefined
            ? r
            : { partition: r.partition, offset: r.offset, id: r.id, key: r.key, ts: r.ts, body: r.body },
        );
        // Resolves once the worker handled (or dead-lettered) every record: then the log commits.
        this.#handled = await run.rpc.call<number>('batch', [cid, { ...batch, records }, notOwned], 0);
        const last = batch.records.at(-1);
        if (last && last.offset > (this.#applied.get(batch.partition) ?? -1))
          this.#applied.set(batch.partition, last.offset);
        void this.#refreshHeads(false);
      },
      { from, maxBatch: Math.max(maxBatch, WORKER_BATCH) },
    );
    if (run.exited) {
      // The worker died while this consumer was being opened: nobody reads it.
      await consumer.close();
      throw unavailable('stream worker exited');
    }
    return consumer;
  }

  /** The log's heads, at most once a second (for Kafka a broker round trip). */
  async #refreshHeads(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.#headsAt < 1000) return;
    this.#headsAt = now;
    try {
      for (const [p, head] of Object.entries(await this.#o.log.heads())) this.noteAppended(Number(p), head);
    } catch (err) {
      this.#o.logger.warn({ err }, 'stream worker: reading the log heads failed');
    }
  }

  async #onExit(run: Run, code: number): Promise<void> {
    run.exited = true;
    run.up = false;
    clearInterval(run.heartbeat);
    run.rpc.fail(() =>
      unavailable(
        this.#closing
          ? 'the event stream is closing'
          : `stream worker exited (code ${code}); it is restarting`,
      ),
    );
    if (this.#run === run) this.#resetReady();
    // Close its consumers before anything else: batches it did not acknowledge stay uncommitted.
    for (const opening of run.consumers.values()) {
      try {
        await (await opening)?.close();
      } catch (err) {
        this.#o.logger.warn({ err }, 'stream worker: closing a consumer failed');
      }
    }
    run.consumers.clear();
    if (this.#closing || this.#run !== run) return;
    this.#restarts.inc();
    const delay = backoffMs(++this.#attempt, this.#o.restartBaseMs ?? 100, this.#o.restartMaxMs ?? 5_000);
    this.#o.logger.error(
      { code, restartInMs: Math.round(delay), attempt: this.#attempt },
      'stream worker exited unexpectedly; restarting it from its newest snapshot',
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closing) return;
      const next = this.#spawn();
      next.started.catch(async (err: unknown) => {
        this.#o.logger.error({ err }, 'stream worker failed to start; restarting it');
        if (!next.exited) await next.worker.terminate();
      });
    }, delay);
    this.#restartTimer.unref();
  }

  /** The current run once it is up, waiting at most `timeoutMs` (while it restarts). */
  async #whenUp(timeoutMs: number): Promise<Run> {
    if (this.#closing) throw unavailable('the event stream is closing');
    if (this.#run?.up) return this.#run;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(unavailable(`stream worker not running (waited ${timeoutMs} ms)`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    if (!this.#run?.up) throw unavailable('stream worker not running');
    return this.#run;
  }

  /** A query: fails at once (503) while the worker is down or restarting. */
  #query<T>(op: string, args: unknown[] = []): Promise<T> {
    const run = this.#run;
    if (!run?.up || this.#closing)
      return Promise.reject(unavailable('stream worker is restarting; try again shortly'));
    return run.rpc.call<T>(op, args, this.#o.timeoutMs ?? 30_000);
  }

  /** A command that waits (within `timeoutMs`) for a restarting worker instead of failing. */
  async #command<T>(op: string, args: unknown[], timeoutMs = 60_000): Promise<T> {
    const started = Date.now();
    const run = await this.#whenUp(timeoutMs);
    return run.rpc.call<T>(op, args, Math.max(1000, timeoutMs - (Date.now() - started)));
  }

  recommend(userId: string, limit: number): Promise<RecommendationList> {
    return this.#query('recommend', [userId, limit]);
  }
  userListening(userId: string): Promise<UserListeningView> {
    return this.#query('userListening', [userId]);
  }
  trackStats(trackId: string): Promise<TrackStatsView> {
    return this.#query('trackStats', [trackId]);
  }
  windows(): Promise<WindowsView> {
    return this.#query('windows');
  }
  exportUser(userId: string): Promise<BuiltinUserExport> {
    return this.#command('exportUser', [userId]);
  }
  sizes(): Promise<{ tracks: number; artists: number; users: number }> {
    return this.#query('sizes');
  }
  stats(): Promise<WorkerStats> {
    return this.#query('stats');
  }

  /** Resolves once the worker handled every record appended so far (waits for a restarting worker). */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    await this.#whenUp(timeoutMs);
    // +1 s: the worker's own timeout fires first, with its message.
    await this.#command('caughtUp', [Math.max(0, end - Date.now())], Math.max(0, end - Date.now()) + 1000);
  }

  snapshotNow(): Promise<string | undefined> {
    return this.#command('snapshotNow', []);
  }

  /** GDPR: the worker forgets the user, writes a fresh snapshot and scrubs the older ones. */
  erase(userId: string): Promise<void> {
    return this.#command('erase', [userId]);
  }
  forget(userId: string): Promise<void> {
    return this.#command('forget', [userId]);
  }
  reached(partition: number, offset: number, timeoutMs = 30_000): Promise<void> {
    return this.#command('reached', [partition, offset, timeoutMs], timeoutMs + 1000);
  }
  purgeSnapshots(): Promise<void> {
    return this.#command('purgeSnapshots', []);
  }

  /** A dead letter of a built-in handler through it again, in the worker. */
  replayOne(handler: string, event: StreamEvent, partition: number, offset: number): Promise<ReplayOutcome> {
    return this.#command('replayOne', [handler, event, partition, offset]);
  }

  async pause(): Promise<void> {
    this.#paused = true;
    if (this.#run?.up) await this.#run.rpc.call('pause', [], 60_000);
  }

  async resume(): Promise<void> {
    this.#paused = false;
    const run = await this.#whenUp(60_000);
    await run.rpc.call('resume', [], 60_000);
  }

  /** The worker's metric families (labelled processor="handlers"); none while it is down. */
  async metrics(): Promise<Metrics> {
    if (!this.#run?.up) return [];
    try {
      return await this.#run.rpc.call<Metrics>('metrics', [], 5_000);
    } catch (err) {
      this.#o.logger.warn({ err }, 'stream worker metrics unavailable');
      return [];
    }
  }

  /** Test hook (workerData.testHooks): the worker exits (`exit`: process.exit) or throws an uncaught error (`throw`). */
  async crashForTest(how: 'exit' | 'throw' | 'hang' = 'exit'): Promise<void> {
    const run = await this.#whenUp(30_000);
    await run.rpc.call('testCrash', [how]);
  }

  /**
   * Test hook (workerData.testHooks): `handler` fails on tracks starting with `trackPrefix`
   * (null: stops), or with `exit` the worker exits right there, mid-batch.
   */
  async faultForTest(handler: string, trackPrefix: string | null, exit = false): Promise<void> {
    await this.#command('testFault', [handler, trackPrefix, exit]);
  }

  /** The worker writes its last snapshot and stops; then the thread is terminated. */
  async close(): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const run = this.#run;
    if (run && !run.exited) {
      try {
        await run.started;
        if (!run.exited) await run.rpc.call('close', [], 120_000);
      } catch (err) {
        if (!run.exited) this.#o.logger.warn({ err }, 'stream worker did not close cleanly');
      }
      this.#closing = true;
      await this.#stop(run);
    }
    this.#closing = true;
    await this.#exitDone;
  }

  async #stop(run: Run): Promise<void> {
    this.#closing = true;
    if (!run.exited) {
      const exited = new Promise((r) => run.worker.once('exit', r));
      await run.worker.terminate();
      await exited;
    }
    await this.#exitDone;
  }
}
