import type { Logger } from '../../core/observability/index.ts';
import type { DedupeWindow } from './dedupe.ts';
import type {
  AppendResult,
  BatchHandler,
  ConsumeOptions,
  EventLog,
  KeyErasure,
  LogConsumer,
  LogHealth,
  LogRecord,
  StoredRecord,
} from './port.ts';

/** A dedupe window that may also report its own health (Redis). */
export type SharedDedupeWindow = DedupeWindow & { health?(): LogHealth };

export interface DedupedEventLogOptions {
  log: EventLog;
  /** The window shared by the nodes (Redis); closed by close(), after the log. */
  dedupe: SharedDedupeWindow;
  logger: Logger;
  /** The partition a duplicate reports (its key's). @default 0 */
  partitionOf?: (key: string) => number;
  /** Awaited by start() before the log starts (the shared connection is up). */
  ready?: () => Promise<void>;
}

/**
 * Cluster-wide dedupe in front of any log (cluster mode, REDIS_URL): an event id already
 * appended through any node within the window is a duplicate on every node.
 *
 * append = claim the ids (pending) → append the new ones to the log → commit them (done);
 * if the append fails they are released and the error goes to the caller (the batch is
 * refused: a retry is not a duplicate). A failing claim (Redis down) refuses the batch
 * with its UnavailableError (503 / 4503) before anything is appended: never a silent pass
 * of duplicates, never a lost event. An id is reported a duplicate only once its first
 * append is durable (see RedisDedupeWindow). The wrapped log may dedupe as well (SQLite:
 * UNIQUE id over its retention): its own duplicates are reported as such.
 */
export class DedupedEventLog implements EventLog {
  readonly kind: EventLog['kind'];
  readonly #o: DedupedEventLogOptions;

  constructor(opts: DedupedEventLogOptions) {
    this.#o = opts;
    this.kind = opts.log.kind;
  }

  async start(): Promise<void> {
    await this.#o.ready?.();
    await this.#o.log.start();
  }

  async append(records: readonly LogRecord[]): Promise<AppendResult[]> {
    if (!records.length) return [];
    const dup = await this.#o.dedupe.claim(records.map((r) => r.id));
    const partitionOf = this.#o.partitionOf ?? (() => 0);
    const out: AppendResult[] = records.map((r) => ({
      partition: partitionOf(r.key),
      offset: -1,
      duplicate: true,
    }));
    const fresh = records.filter((_, i) => !dup[i]);
    if (!fresh.length) return out;
    const freshIds = fresh.map((r) => r.id);
    let results: AppendResult[];
    try {
      results = await this.#o.log.append(fresh);
    } catch (err) {
      await this.#o.dedupe.release(freshIds).catch((e: unknown) =>
        // The ids stay pending until the window's pending time: a retry waits for it, then goes in.
        this.#o.logger.warn(
          { err: e, ids: freshIds.length },
          'event dedupe: release after a failed append failed',
        ),
      );
      throw err;
    }
    await this.#o.dedupe
      .commit?.(freshIds)
      .catch((e: unknown) =>
        this.#o.logger.warn(
          { err: e, ids: freshIds.length },
          'event dedupe: commit after a durable append failed (the ids count as new again after the pending time)',
        ),
      );
    let next = 0;
    records.forEach((_, i) => {
      if (!dup[i]) out[i] = results[next++]!;
    });
    return out;
  }

  consume(group: string, handler: BatchHandler, opts?: ConsumeOptions): Promise<LogConsumer> {
    return this.#o.log.consume(group, handler, opts);
  }

  heads(): Promise<Record<number, number>> {
    return this.#o.log.heads();
  }

  readKey(key: string, opts?: { limit?: number }): Promise<StoredRecord[]> {
    return this.#o.log.readKey(key, opts);
  }

  eraseKey(key: string): Promise<KeyErasure> {
    return this.#o.log.eraseKey(key);
  }

  forgetKey(key: string): void {
    this.#o.log.forgetKey?.(key);
  }

  health(): LogHealth {
    const h = this.#o.log.health();
    if (!h.ok) return h;
    return this.#o.dedupe.health?.() ?? h;
  }

  async close(): Promise<void> {
    try {
      await this.#o.log.close();
    } finally {
      await this.#o.dedupe.close();
    }
  }
}
