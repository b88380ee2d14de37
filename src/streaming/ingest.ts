import { assertOwnUser } from '../core/auth/index.ts';
import { BadRequestError, toBackbeatError } from '../core/errors/index.ts';
import { DEFAULT_MAX_JSON_DEPTH, depthError, exceedsJsonDepth } from '../core/json/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import { parseEvent, type SchemaRegistry, type StreamEvent } from './events/index.ts';
import type { EventLog, LogRecord } from './log/index.ts';
import type { StreamingMetrics } from './metrics.ts';

export interface IngestResult {
  /** Valid events: appended now, or already in the log (duplicates, dropped by id). */
  accepted: number;
  /** Of the accepted, how many were duplicates. */
  duplicates: number;
  rejected: Array<{ index: number; error: string }>;
  /** Per accepted event, its id (assigned when missing). */
  ids: Array<{ index: number; id: string; duplicate: boolean }>;
}

export interface IngestContext {
  source: 'http' | 'ws';
  /** W3C trace context of the carrying request. */
  trace?: Record<string, string>;
  /** When set, events must be about this user (a client token sending its own events); a missing userId is filled in. */
  ownUser?: string;
}

export interface EventIngestOptions {
  log: EventLog;
  registry: SchemaRegistry;
  clock: Clock;
  metrics: StreamingMetrics;
  logger: Logger;
  /** Most events in one batch. @default 1000 */
  maxBatch: number;
  /** Deepest JSON nesting of one event (MAX_JSON_DEPTH); a deeper event is rejected by index. @default 32 */
  maxJsonDepth?: number;
  /** Told each durable append's results (the processor's view of the log heads: lag, backpressure). */
  onAppended?: (results: Awaited<ReturnType<EventLog['append']>>) => void;
}

/**
 * The intake of the event stream: validates each event (envelope + versioned schema,
 * precise reasons), normalizes it (id, ms time, newest version, receive time, trace
 * context) and appends the valid ones to the log in one durable write. An invalid event
 * is rejected by index and changes nothing; the valid ones of the same batch still go in.
 * The result resolves only once they are durable: a 202 is a promise kept across restarts.
 */
export class EventIngest {
  readonly #o: EventIngestOptions;

  constructor(opts: EventIngestOptions) {
    this.#o = opts;
  }

  get maxBatch(): number {
    return this.#o.maxBatch;
  }

  async ingest(raws: readonly unknown[], ctx: IngestContext): Promise<IngestResult> {
    if (raws.length === 0)
      throw new BadRequestError('no events: send a JSON array of events or NDJSON lines');
    if (raws.length > this.#o.maxBatch)
      throw new BadRequestError(
        `too many events in one batch: ${raws.length} > ${this.#o.maxBatch} (EVENTS_MAX_BATCH)`,
      );
    const now = this.#o.clock.now();
    const rejected: IngestResult['rejected'] = [];
    const events: Array<{ index: number; event: StreamEvent }> = [];
    raws.forEach((raw, index) => {
      try {
        events.push({ index, event: this.#parse(raw, now, ctx) });
      } catch (err) {
        rejected.push({ index, error: toBackbeatError(err).message });
      }
    });
    const { metrics } = this.#o;
    if (rejected.length) metrics.ingested.labels(ctx.source, 'rejected').inc(rejected.length);
    if (events.length === 0) return { accepted: 0, duplicates: 0, rejected, ids: [] };
    const records: LogRecord[] = events.map(({ event }) => ({
      id: event.id,
      key: event.userId,
      ts: event.ts,
      body: JSON.stringify(event),
      value: event,
    }));
    const end = metrics.appendDuration.startTimer({ engine: this.#o.log.kind });
    const results = await this.#o.log.append(records);
    end();
    this.#o.onAppended?.(results);
    const ids = events.map(({ index, event }, i) => ({
      index,
      id: event.id,
      duplicate: results[i]!.duplicate,
    }));
    const duplicates = ids.filter((r) => r.duplicate).length;
    metrics.ingested.labels(ctx.source, 'accepted').inc(ids.length - duplicates);
    if (duplicates) metrics.ingested.labels(ctx.source, 'duplicate').inc(duplicates);
    return { accepted: ids.length, duplicates, rejected, ids };
  }

  #parse(raw: unknown, now: number, ctx: IngestContext): StreamEvent {
    if (raw instanceof BadNdjsonLine) throw new BadRequestError(raw.reason);
    // Checked first: nothing recursive (validation, JSON.stringify for the log) may see a deep value.
    const maxDepth = this.#o.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
    if (exceedsJsonDepth(raw, maxDepth)) throw new BadRequestError(depthError('event', maxDepth));
    let input = raw;
    if (ctx.ownUser !== undefined && typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
      const userId = (raw as { userId?: unknown }).userId;
      if (userId === undefined) input = { ...raw, userId: ctx.ownUser };
      else if (typeof userId === 'string') assertOwnUser(ctx.ownUser, userId, false, 'events:write');
    }
    return parseEvent(input, { registry: this.#o.registry, now, ...(ctx.trace ? { trace: ctx.trace } : {}) });
  }
}

/**
 * Splits an NDJSON body into values, one per non-empty line; a line that is not JSON
 * becomes a `BadNdjsonLine` so its index is rejected rather than the whole batch.
 */
export class BadNdjsonLine {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

export function parseNdjson(body: string): unknown[] {
  return body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as unknown;
      } catch (err) {
        return new BadNdjsonLine(`invalid JSON: ${(err as Error).message}`);
      }
    });
}
