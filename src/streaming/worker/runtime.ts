/**
 * The stream worker's side (run by entry.ts in a `worker_threads` worker started by
 * WorkerHost; tests may run it over a MessageChannel in one thread): runs a
 * StreamProcessor with the built-in handlers (plays, recommendations, trending windows)
 * off the intake's thread. It opens no database, broker or Redis connection: the log, the
 * dead-letter queue and recommendation pushes are the main thread's, reached through
 * PortEventLog / PortDeadLetterStore / `publish` over the worker's port (rpc.ts); queries
 * are answered from here. Its metrics live on a registry of its own, which the main
 * thread's /metrics merges in (see `labelled`).
 */
import { Registry } from 'prom-client';
import { BackbeatError, toBackbeatError } from '../../core/errors/index.ts';
import { createLogger } from '../../core/observability/index.ts';
import { backoffMs } from '../../core/resilience/index.ts';
import { systemClock } from '../../core/time/index.ts';
import type { StreamEvent } from '../events/index.ts';
import type { RecordBatch } from '../log/port.ts';
import { StreamingMetrics } from '../metrics.ts';
import { StreamProcessor, type HandlerContext } from '../processor.ts';
import { SnapshotStore } from '../snapshots/store.ts';
import { BuiltinHandlers } from './builtin.ts';
import { PortDeadLetterStore, PortEventLog, type MainCall } from './ports.ts';
import { RpcPeer, type RpcPort } from './rpc.ts';
import type { ReplayOutcome, WorkerData, WorkerStats } from './protocol.ts';

/**
 * Families only the built-in handlers write (series told apart by handler, or written by
 * no one on the main thread): their names and labels are the same as in-process.
 */
const HANDLER_FAMILIES = new Set([
  'backbeat_streaming_events_processed_total',
  'backbeat_streaming_handler_duration_seconds',
  'backbeat_streaming_plays_total',
  'backbeat_streaming_recommendation_update_seconds',
  'backbeat_streaming_recommendation_pushes_total',
  'backbeat_streaming_recommendation_factor_trainings_total',
  'backbeat_streaming_recommendation_factor_training_seconds',
  'backbeat_streaming_window_results_total',
]);

/**
 * The worker's metrics as the main thread's /metrics merges them: series that the main
 * thread's processor also reports (lag, snapshots, the processor's own `handler="*"`
 * outcomes) get `processor="handlers"`, so no series is summed into the other's; the
 * dead-letter gauge is the main thread's alone (it holds the store).
 */
function labelled(families: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) {
  return families
    .filter((m) => m.name !== 'backbeat_streaming_dead_letters')
    .map((m) => ({
      ...m,
      values: m.values.map((v) =>
        HANDLER_FAMILIES.has(m.name) && v.labels['handler'] !== '*'
          ? v
          : { ...v, labels: { ...v.labels, processor: 'handlers' } },
      ),
    }));
}

/** Starts the worker's side on `port` (the worker's parentPort); returns its end of the protocol. */
export function runStreamWorker(
  port: RpcPort,
  data: WorkerData,
  /** Called once the processor has started (snapshot restored, consuming): entry.ts gives start-up memory back then. */
  onStarted?: () => void,
): RpcPeer {
  const registry = new Registry();
  const metrics = new StreamingMetrics(registry);
  const logger = createLogger(data.logLevel).child({ component: 'streaming', thread: 'stream-worker' });
  // `rpc` (below) is only called once the worker runs, never while it is being built.
  const call: MainCall = (op, args, timeoutMs) => rpc.call(op, args, timeoutMs);
  const log = new PortEventLog(data.logKind, call);

  // Cluster (Kafka): whether this node does a user's side effects is decided on the main
  // thread, which sends the users of each batch it does not own along with the batch.
  const owned = new Map<string, boolean>();
  const builtin = new BuiltinHandlers({
    ...data.handlers,
    clock: systemClock,
    metrics,
    logger,
    publish: (userId, body) => call('publish', [userId, body], 30_000),
    ...(data.listening
      ? { listening: (userId: string) => call<boolean>('listening', [userId], 30_000) }
      : {}),
  });

  // Test hook (StreamingOptions.workerTestHooks): make a handler fail on chosen tracks, or
  // the whole worker exit there (mid-batch, the records before it applied, none acknowledged).
  const faults = new Map<string, { prefix: string; exit: boolean }>();
  if (data.testHooks)
    for (const h of builtin.list) {
      const handle = h.handle.bind(h);
      h.handle = (e: StreamEvent, ctx: HandlerContext) => {
        const fault = faults.get(h.name);
        if (fault && String(e.data['trackId']).startsWith(fault.prefix)) {
          if (fault.exit) process.exit(71);
          throw new BackbeatError(
            'BAD_REQUEST',
            `injected failure of ${h.name} on ${String(e.data['trackId'])}`,
          );
        }
        return handle(e, ctx);
      };
    }

  const processor = new StreamProcessor({
    log,
    group: data.group,
    handlers: builtin.list,
    ...(data.snapshots
      ? {
          snapshots: {
            store: new SnapshotStore(data.snapshots.dir, data.snapshots.keep),
            everyEvents: data.snapshots.everyEvents,
            everyMs: data.snapshots.everyMs,
          },
        }
      : {}),
    dlq: new PortDeadLetterStore(call),
    metrics,
    logger,
    clock: systemClock,
    retry: data.retry,
    ...(data.owns ? { owns: (userId: string) => owned.get(userId) ?? true } : {}),
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const isRetriable = (err: unknown): boolean =>
    err instanceof BackbeatError
      ? err.retriable
      : typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;

  /** A dead letter of a built-in handler, through that handler again (with the same retries); the DLQ is the main thread's. */
  async function replayOne(
    handler: string,
    event: StreamEvent,
    partition: number,
    offset: number,
  ): Promise<ReplayOutcome> {
    const h = builtin.list.find((x) => x.name === handler);
    if (!h)
      return {
        ok: false,
        code: 'internal',
        message: `no handler named ${handler} in the stream worker`,
        retriable: false,
      };
    const ctx: HandlerContext = { replay: false, owner: true, partition, offset };
    let lastErr: unknown;
    for (let attempt = 1; attempt <= Math.max(1, data.retry.attempts); attempt++) {
      try {
        await h.handle(event, ctx);
        metrics.processed.labels(h.name, 'dlq_replayed').inc();
        return { ok: true };
      } catch (err) {
        lastErr = err;
        if (!isRetriable(err)) break;
        await sleep(backoffMs(attempt, data.retry.baseMs, data.retry.maxMs));
      }
    }
    const e = toBackbeatError(lastErr);
    return {
      ok: false,
      code: e.def.name,
      message: (e.cause instanceof Error ? e.cause.message : undefined) ?? e.message,
      retriable: isRetriable(lastErr),
    };
  }

  const rpc = new RpcPeer(port, {
    start: async () => {
      await processor.start();
      onStarted?.();
    },
    batch: async (cid: number, batch: RecordBatch, notOwned?: string[]) => {
      if (notOwned) {
        if (owned.size > 100_000) owned.clear();
        const not = new Set(notOwned);
        for (const r of batch.records) owned.set(r.key, !not.has(r.key));
      }
      await log.deliver(cid, batch);
      return processor.handled;
    },
    recommend: (userId: string, limit: number) => builtin.recommend(userId, limit),
    userListening: (userId: string) => builtin.userListening(userId),
    trackStats: (trackId: string) => builtin.trackStats(trackId),
    windows: () => builtin.windows(),
    exportUser: (userId: string) => builtin.exportUser(userId),
    sizes: () => builtin.sizes(),
    stats: async (): Promise<WorkerStats> => ({
      handled: processor.handled,
      applied: Object.fromEntries(processor.applied),
      snapshots: processor.snapshotsEnabled,
    }),
    caughtUp: (timeoutMs: number) => processor.caughtUp(timeoutMs),
    snapshotNow: async () => (await processor.snapshotNow())?.name,
    erase: (userId: string) => processor.erase(userId),
    forget: (userId: string) => processor.forget(userId),
    reached: (partition: number, offset: number, timeoutMs: number) =>
      processor.reached(partition, offset, timeoutMs),
    purgeSnapshots: () => processor.purgeSnapshots(),
    pause: () => processor.close(),
    resume: () => processor.start(),
    replayOne,
    metrics: async () => labelled(await registry.getMetricsAsJSON()),
    close: async () => {
      await processor.close();
      builtin.close();
    },
    ping: () => true,
    testCrash: (how: 'exit' | 'throw' | 'hang') => {
      if (!data.testHooks) throw new Error('test hooks are off in this stream worker');
      setImmediate(() => {
        if (how === 'exit') process.exit(70);
        if (how === 'hang') for (;;); // never returns: only the host's heartbeat can end it
        throw new Error('stream worker crash (test hook)');
      });
    },
    testFault: (handler: string, trackPrefix: string | null, exit = false) => {
      if (!data.testHooks) throw new Error('test hooks are off in this stream worker');
      if (trackPrefix === null) faults.delete(handler);
      else faults.set(handler, { prefix: trackPrefix, exit });
    },
  });
  return rpc;
}
