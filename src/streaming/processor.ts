import { BackbeatError, toBackbeatError } from '../core/errors/index.ts';
import { extractContext, withSpan, type Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { DeadLetter, DeadLetterStore } from './dlq/store.ts';
import { IdWindow } from './log/dedupe.ts';
import { decodeEvent, type StreamEvent } from './events/index.ts';
import type { EventLog, LogConsumer, RecordBatch, StoredRecord } from './log/index.ts';
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
}

const isRetriable = (err: unknown): boolean =>
  err instanceof BackbeatError ? err.retriable : typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;

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
  #consumer: LogConsumer | undefined;
  #handled = 0;

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
    this.#consumer = await this.#o.log.consume(this.#o.group, (b) => this.#onBatch(b), { from: 'earliest', maxBatch: this.#o.maxBatch ?? 500 });
  }

  /** Resolves once every record appended so far has been handled (tests, drain). */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const heads = await this.#o.log.heads();
    const end = Date.now() + timeoutMs;
    for (const [p, head] of Object.entries(heads)) {
      while ((this.#applied.get(Number(p)) ?? -1) < head) {
        if (Date.now() > end) throw new Error(`stream processor not caught up on partition ${p}: ${this.#applied.get(Number(p))} < ${head}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  async #onBatch(batch: RecordBatch): Promise<void> {
    const applied = this.#applied.get(batch.partition) ?? -1;
    for (const record of batch.records) {
      if (record.offset <= applied) continue; // redelivered after a failed commit: already applied here
      await this.#onRecord(record, batch.replay);
      this.#applied.set(batch.partition, record.offset);
      this.#handled++;
    }
    const last = batch.records.at(-1);
    if (last) {
      const heads = await this.#o.log.heads();
      this.#o.metrics.lag.labels(String(batch.partition)).set(Math.max(0, (heads[batch.partition] ?? last.offset) - last.offset));
    }
  }

  async #onRecord(record: StoredRecord, replay: boolean): Promise<void> {
    let event: StreamEvent;
    try {
      event = decodeEvent(record.body);
    } catch (err) {
      // A record that is not an event cannot be handled by anyone: dead-letter it as such.
      this.#o.logger.error({ err, partition: record.partition, offset: record.offset }, 'undecodable record in the event log');
      if (!replay) await this.#deadLetter(record, undefined, 'decode', toBackbeatError(err), 1);
      return;
    }
    if (this.#recent.has(event.id)) {
      this.#o.metrics.processed.labels('*', 'skipped_duplicate').inc();
      return;
    }
    const owner = this.#o.owns?.(event.userId) ?? true;
    const ctx: HandlerContext = { replay, owner, partition: record.partition, offset: record.offset };
    for (const h of this.#o.handlers) {
      if (!h.types.has(event.type)) continue;
      await this.#run(h, event, ctx, record);
    }
    // Only once every handler is done (or dead-lettered): a throw above redelivers the record.
    this.#recent.add(event.id);
  }

  async #run(h: EventHandler, event: StreamEvent, ctx: HandlerContext, record: StoredRecord): Promise<void> {
    const { metrics, retry } = this.#o;
    const attempts = ctx.replay ? 1 : Math.max(1, retry.attempts);
    for (let attempt = 1; ; attempt++) {
      const end = metrics.handlerDuration.startTimer({ handler: h.name });
      try {
        // A span per handler when the event carries a trace (continuing the producer's trace).
        const r = ctx.replay || !event.trace['traceparent'] ? h.handle(event, ctx) : withSpan(`streaming.${h.name}`, extractContext(event.trace), () => h.handle(event, ctx));
        if (r instanceof Promise) await r;
        end();
        metrics.processed.labels(h.name, ctx.replay ? 'replayed' : 'ok').inc();
        return;
      } catch (err) {
        end();
        if (ctx.replay) {
          // It failed live too and went to the DLQ then; rebuilding state moves on.
          metrics.processed.labels(h.name, 'replay_failed').inc();
          return;
        }
        const retriable = isRetriable(err);
        if (retriable && attempt < attempts) {
          metrics.processed.labels(h.name, 'retried').inc();
          const backoff = Math.random() * Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1));
          await this.#sleep(backoff);
          continue;
        }
        this.#o.logger.warn({ err, handler: h.name, eventId: event.id, type: event.type, attempts: attempt }, 'event dead-lettered');
        if (ctx.owner) await this.#deadLetter(record, event, h.name, toBackbeatError(err), attempt, retriable);
        metrics.processed.labels(h.name, 'dead_lettered').inc();
        return;
      }
    }
  }

  async #deadLetter(record: StoredRecord, event: StreamEvent | undefined, handler: string, err: BackbeatError, attempts: number, retriable = err.retriable): Promise<void> {
    const now = this.#o.clock.now();
    const eventId = event?.id ?? record.id;
    const dl: DeadLetter = {
      id: `${eventId}/${handler}`,
      eventId,
      handler,
      event: event ?? ({ id: record.id, type: 'undecodable', v: 0, userId: record.key, ts: record.ts, receivedAt: now, data: { body: record.body }, trace: {} }),
      error: { code: err.def.name, message: (err.cause instanceof Error ? err.cause.message : undefined) ?? err.message, retriable },
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
  async replayDeadLetters(ids?: readonly string[], limit = 1000): Promise<{ replayed: number; succeeded: string[]; failed: Array<{ id: string; error: string }> }> {
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
          await this.#sleep(Math.random() * Math.min(this.#o.retry.maxMs, this.#o.retry.baseMs * 2 ** (attempt - 1)));
        }
      }
      if (lastErr === undefined) {
        await this.#o.dlq.remove([dl.id]);
        succeeded.push(dl.id);
        this.#o.metrics.processed.labels(h.name, 'dlq_replayed').inc();
      } else {
        const e = toBackbeatError(lastErr);
        const message = (e.cause instanceof Error ? e.cause.message : undefined) ?? e.message;
        await this.#o.dlq.put({ ...dl, attempts: 1, lastFailedAt: this.#o.clock.now(), error: { code: e.def.name, message, retriable: isRetriable(lastErr) } });
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
