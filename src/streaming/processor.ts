import { BackbeatError, toBackbeatError } from '../core/errors/index.ts';
import { extractContext, withSpan, type Logger } from '../core/observability/index.ts';
import { backoffMs } from '../core/resilience/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { DeadLetter, DeadLetterStore } from './dlq/store.ts';
import { IdWindow } from './log/dedupe.ts';
import { decodeEvent, type StreamEvent } from './events/index.ts';
import {
  ERASURE_EVENT_TYPE,
  type EventLog,
  type LogConsumer,
  type RecordBatch,
  type StoredRecord,
} from './log/index.ts';
import type { StreamingMetrics } from './metrics.ts';

export interface HandlerContext {
  /** The event was handled before this process started: rebuild state only, no side effects. */
  replay: boolean;
  /** Whether this node performs side effects for the event's user (pushes); see `StreamProcessorOptions.owns`. */
  owner: boolean;
  partition: number;
  offset: number;
}

/**
 * A handler of the event stream. Must be idempotent in effect: the log is at-least-once
 * (the processor itself drops records it has already applied in this process, so a
 * redelivery after a crash is the only repeat). Throw an error with `retriable: true`
 * (a BackbeatError from the catalog, or any error with that property) for a passing
 * failure; anything else goes to the dead-letter queue at once.
 */
export interface EventHandler {
  readonly name: string;
  /** Event types this handler wants; others are not passed to it. */
  readonly types: ReadonlySet<string>;
  handle(event: StreamEvent, ctx: HandlerContext): void | Promise<void>;
  /**
   * GDPR erasure (SPEC §7): drops everything this handler keeps about the user (aggregates
   * that hold no user id may stay). Idempotent; called on every node, also during replay.
   */
  forget?(userId: string): void | Promise<void>;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 4 */
  attempts: number;
  /** First backoff, ms; doubles each attempt, full jitter. @default 50 */
  baseMs: number;
  /** Largest backoff, ms. @default 2000 */
  maxMs: number;
}

export interface StreamProcessorOptions {
  log: EventLog;
  group: string;
  handlers: readonly EventHandler[];
  dlq: DeadLetterStore;
  metrics: StreamingMetrics;
  logger: Logger;
  clock: Clock;
  retry: RetryPolicy;
  /** Whether this node does the side effects for a user (cluster: one owner per user). @default every user */
  owns?: (userId: string) => boolean;
  /** Most records per batch. @default 500 */
  maxBatch?: number;
  /** Event ids handled recently, remembered to skip a duplicate that reached the log anyway. @default 250_000 */
  recentIds?: number;
  /** Sleep used between retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * An erasure marker (ERASURE_EVENT_TYPE) reached this processor: the user's state is to be
   * forgotten (the caller also drops caches). Called after every handler's `forget`.
   */
  onErased?: (userId: string) => void | Promise<void>;
}

const isRetriable = (err: unknown): boolean =>
  err instanceof BackbeatError
    ? err.retriable
    : typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;

/**
 * Runs the handlers over the event log: consumes the processor's group from the earliest
 * retained record (records committed before start are replayed to rebuild in-memory
 * state, flagged `replay`), then live. Each event goes to each handler in turn, with
 * retries (exponential backoff with full jitter) for retriable errors; after the last
 * attempt, or at once for a non-retriable error, it goes to the dead-letter queue and the
 * partition moves on: a poison event never blocks it. The batch is committed only after
 * every event in it is handled or dead-lettered, so nothing acknowledged is skipped.
 */
export class StreamProcessor {
  readonly #o: StreamProcessorOptions;
  readonly #applied = new Map<number, number>();
  /**
   * The second line of dedupe: ids already handled. The log drops duplicates within its
   * window, but a resend that reached another node (Kafka: each node has its own window)
   * or came after a power cut is in the log twice; handlers see it once.
   */
  readonly #recent: IdWindow;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #counts = new Map<string, number>();
  readonly #lagAt = new Map<number, number>();
  #samples = 0;
  #consumer: LogConsumer | undefined;
  #handled = 0;
  /** The batch being handled, if any (see `settled`). */
  #inFlight: Promise<void> | undefined;

  constructor(opts: StreamProcessorOptions) {
    this.#o = opts;
    this.#recent = new IdWindow(opts.recentIds ?? 250_000);
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  /** Events handled (live or replayed) since start; for tests and stats. */
  get handled(): number {
    return this.#handled;
  }

  /** Highest offset applied per partition. */
  get applied(): ReadonlyMap<number, number> {
    return this.#applied;
  }

  async start(): Promise<void> {
    this.#consumer = await this.#o.log.consume(
      this.#o.group,
      (b) => {
        // Set synchronously when the log hands the batch over, so `settled()` never misses one.
        const p = this.#onBatch(b);
        this.#inFlight = p;
        return p.finally(() => {
          if (this.#inFlight === p) this.#inFlight = undefined;
        });
      },
      { from: 'earliest', maxBatch: this.#o.maxBatch ?? 500 },
    );
  }

  /**
   * Resolves once the batch being handled when called (if any) is done, however it ended.
   * An erasure uses it: records read from the log before their deletion are applied by then,
   * so forgetting the user's state afterwards is final.
   */
  async settled(): Promise<void> {
    await this.#inFlight?.catch(() => undefined);
  }

  /** Forgets the user in every handler that keeps per-user state (GDPR erasure, SPEC §7). */
  async forget(userId: string): Promise<void> {
    for (const h of this.#o.handlers) {
      const r = h.forget?.(userId);
      if (r instanceof Promise) await r;
    }
    const r = this.#o.onErased?.(userId);
    if (r instanceof Promise) await r;
  }

  /** Resolves once `offset` of `partition` has been applied here (an erasure marker reached this node). */
  async reached(partition: number, offset: number, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.#applied.get(partition) ?? -1) < offset) {
      if (Date.now() > end)
        throw new Error(
          `stream processor did not reach offset ${offset} of partition ${partition} within ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves once every record appended so far has been handled (tests, drain). */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const heads = await this.#o.log.heads();
    const end = Date.now() + timeoutMs;
    for (const [p, head] of Object.entries(heads)) {
      while ((this.#applied.get(Number(p)) ?? -1) < head) {
        if (Date.now() > end)
          throw new Error(
            `stream processor not caught up on partition ${p}: ${this.#applied.get(Number(p))} < ${head}`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  async #onBatch(batch: RecordBatch): Promise<void> {
    const applied = this.#applied.get(batch.partition) ?? -1;
    for (const record of batch.records) {
      if (record.offset <= applied) continue; // redelivered after a failed commit: already applied here
      // Synchronous handlers finish without a promise: the hot path awaits nothing.
      const pending = this.#onRecord(record, batch.replay);
      if (pending) await pending;
      this.#applied.set(batch.partition, record.offset);
      this.#handled++;
    }
    this.#flushCounts();
    const last = batch.records.at(-1);
    const now = Date.now();
    // Lag at most once a second per partition: for Kafka, heads() is a broker round trip.
    if (last && now - (this.#lagAt.get(batch.partition) ?? 0) >= 1000) {
      this.#lagAt.set(batch.partition, now);
      const heads = await this.#o.log.heads();
      this.#o.metrics.lag
        .labels(String(batch.partition))
        .set(Math.max(0, (heads[batch.partition] ?? last.offset) - last.offset));
    }
  }

  /** Handler outcomes are counted locally and added to the Prometheus counters once per batch. */
  #count(handler: string, outcome: string): void {
    const k = `${handler}\u0000${outcome}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  #flushCounts(): void {
    for (const [k, n] of this.#counts) {
      const [handler, outcome] = k.split('\u0000') as [string, string];
      this.#o.metrics.processed.labels(handler, outcome).inc(n);
    }
    this.#counts.clear();
  }

  #onRecord(record: StoredRecord, replay: boolean): Promise<void> | undefined {
    if (record.shredded) {
      // Crypto-shredded (its user was erased): unreadable by design, neither handled nor dead-lettered.
      this.#count('*', 'skipped_erased');
      return undefined;
    }
    let event: StreamEvent;
    try {
      event = decodeEvent(record.body);
    } catch (err) {
      // A record that is not an event cannot be handled by anyone: dead-letter it as such.
      this.#o.logger.error(
        { err, partition: record.partition, offset: record.offset },
        'undecodable record in the event log',
      );
      return replay ? undefined : this.#deadLetter(record, undefined, 'decode', toBackbeatError(err), 1);
    }
    if (this.#recent.has(event.id)) {
      this.#count('*', 'skipped_duplicate');
      return undefined;
    }
    if (event.type === ERASURE_EVENT_TYPE) {
      this.#count('*', 'erasure');
      return this.forget(event.userId);
    }
    const owner = this.#o.owns?.(event.userId) ?? true;
    const ctx: HandlerContext = { replay, owner, partition: record.partition, offset: record.offset };
    const handlers = this.#o.handlers;
    for (let i = 0; i < handlers.length; i++) {
      const h = handlers[i]!;
      if (!h.types.has(event.type)) continue;
      const pending = this.#run(h, event, ctx, record);
      if (pending) return this.#finishAsync(pending, event, ctx, record, i + 1);
    }
    // Only once every handler is done (or dead-lettered): a throw above redelivers the record.
    this.#recent.add(event.id);
    return undefined;
  }

  /** The rest of a record's handlers once one of them went asynchronous (a promise, a retry). */
  async #finishAsync(
    pending: Promise<void>,
    event: StreamEvent,
    ctx: HandlerContext,
    record: StoredRecord,
    from: number,
  ): Promise<void> {
    await pending;
    const handlers = this.#o.handlers;
    for (let i = from; i < handlers.length; i++) {
      const h = handlers[i]!;
      if (!h.types.has(event.type)) continue;
      const next = this.#run(h, event, ctx, record);
      if (next) await next;
    }
    this.#recent.add(event.id);
  }

  /** First attempt, synchronous when the handler is; failures continue in #retry. */
  #run(
    h: EventHandler,
    event: StreamEvent,
    ctx: HandlerContext,
    record: StoredRecord,
  ): Promise<void> | undefined {
    // Handler latency is sampled (1 in 32 events): timing every call costs more than most handlers.
    const sample = (this.#samples++ & 31) === 0;
    const started = sample ? performance.now() : 0;
    let r: void | Promise<void>;
    try {
      // A span per handler when the event carries a trace (continuing the producer's trace).
      r =
        ctx.replay || !event.trace['traceparent']
          ? h.handle(event, ctx)
          : withSpan(`streaming.${h.name}`, extractContext(event.trace), () => h.handle(event, ctx));
    } catch (err) {
      return this.#retry(h, event, ctx, record, err);
    }
    if (r instanceof Promise) {
      return r.then(
        () => this.#ok(h, ctx, sample, started),
        (err: unknown) => this.#retry(h, event, ctx, record, err),
      );
    }
    this.#ok(h, ctx, sample, started);
    return undefined;
  }

  #ok(h: EventHandler, ctx: HandlerContext, sample: boolean, started: number): void {
    if (sample) this.#o.metrics.handlerDuration.labels(h.name).observe((performance.now() - started) / 1000);
    this.#count(h.name, ctx.replay ? 'replayed' : 'ok');
  }

  /** After a failed first attempt: retries with backoff (retriable errors), then the dead-letter queue. */
  async #retry(
    h: EventHandler,
    event: StreamEvent,
    ctx: HandlerContext,
    record: StoredRecord,
    firstErr: unknown,
  ): Promise<void> {
    const { retry } = this.#o;
    if (ctx.replay) {
      // It failed live too and went to the DLQ then; rebuilding state moves on.
      this.#count(h.name, 'replay_failed');
      return;
    }
    const attempts = Math.max(1, retry.attempts);
    let err = firstErr;
    for (let attempt = 1; ; attempt++) {
      const retriable = isRetriable(err);
      if (!retriable || attempt >= attempts) {
        this.#o.logger.warn(
          { err, handler: h.name, eventId: event.id, type: event.type, attempts: attempt },
          'event dead-lettered',
        );
        if (ctx.owner)
          await this.#deadLetter(record, event, h.name, toBackbeatError(err), attempt, retriable);
        this.#count(h.name, 'dead_lettered');
        return;
      }
      this.#count(h.name, 'retried');
      await this.#sleep(backoffMs(attempt, retry.baseMs, retry.maxMs));
      try {
        const r = h.handle(event, ctx);
        if (r instanceof Promise) await r;
        this.#count(h.name, 'ok');
        return;
      } catch (e) {
        err = e;
      }
    }
  }

  async #deadLetter(
    record: StoredRecord,
    event: StreamEvent | undefined,
    handler: string,
    err: BackbeatError,
    attempts: number,
    retriable = err.retriable,
  ): Promise<void> {
    const now = this.#o.clock.now();
    const eventId = event?.id ?? record.id;
    const dl: DeadLetter = {
      id: `${eventId}/${handler}`,
      eventId,
      handler,
      event: event ?? {
        id: record.id,
        type: 'undecodable',
        v: 0,
        userId: record.key,
        ts: record.ts,
        receivedAt: now,
        data: { body: record.body },
        trace: {},
      },
      error: {
        code: err.def.name,
        message: (err.cause instanceof Error ? err.cause.message : undefined) ?? err.message,
        retriable,
      },
      attempts,
      firstFailedAt: now,
      lastFailedAt: now,
      partition: record.partition,
      offset: record.offset,
    };
    // If the DLQ itself fails, this throws: the batch is not committed and comes again.
    await this.#o.dlq.put(dl);
    this.#o.metrics.deadLetters.set(await this.#o.dlq.count());
  }

  /**
   * Replays dead letters (all, or the given ids) through their handler, with the same
   * retries. Those that succeed leave the queue; those that fail again stay, with their
   * attempts added and the new error.
   */
  async replayDeadLetters(
    ids?: readonly string[],
    limit = 1000,
  ): Promise<{ replayed: number; succeeded: string[]; failed: Array<{ id: string; error: string }> }> {
    const items = ids ? await this.#o.dlq.get(ids) : await this.#o.dlq.list({ limit });
    const succeeded: string[] = [];
    const failed: Array<{ id: string; error: string }> = [];
    for (const dl of items) {
      const h = this.#o.handlers.find((x) => x.name === dl.handler);
      if (!h) {
        failed.push({ id: dl.id, error: `no handler named ${dl.handler} on this node` });
        continue;
      }
      const ctx: HandlerContext = { replay: false, owner: true, partition: dl.partition, offset: dl.offset };
      let lastErr: unknown;
      for (let attempt = 1; attempt <= Math.max(1, this.#o.retry.attempts); attempt++) {
        try {
          const r = h.handle(dl.event, ctx);
          if (r instanceof Promise) await r;
          lastErr = undefined;
          break;
        } catch (err) {
          lastErr = err;
          if (!isRetriable(err)) break;
          await this.#sleep(backoffMs(attempt, this.#o.retry.baseMs, this.#o.retry.maxMs));
        }
      }
      if (lastErr === undefined) {
        await this.#o.dlq.remove([dl.id]);
        succeeded.push(dl.id);
        this.#o.metrics.processed.labels(h.name, 'dlq_replayed').inc();
      } else {
        const e = toBackbeatError(lastErr);
        const message = (e.cause instanceof Error ? e.cause.message : undefined) ?? e.message;
        await this.#o.dlq.put({
          ...dl,
          attempts: 1,
          lastFailedAt: this.#o.clock.now(),
          error: { code: e.def.name, message, retriable: isRetriable(lastErr) },
        });
        failed.push({ id: dl.id, error: message });
      }
    }
    this.#o.metrics.deadLetters.set(await this.#o.dlq.count());
    return { replayed: items.length, succeeded, failed };
  }

  async close(): Promise<void> {
    await this.#consumer?.close();
  }
}
