import { setImmediate as yieldTurn } from 'node:timers/promises';
import { BackbeatError, toBackbeatError } from '../core/errors/index.ts';
import { extractContext, withSpan, type Logger } from '../core/observability/index.ts';
import { backoffMs } from '../core/resilience/index.ts';
import type { Clock } from '../core/time/index.ts';
import { FifoSet } from '../core/cache/index.ts';
import { DLQ_REPLAY_LEASE_MS, type DeadLetter, type DeadLetterStore } from './dlq/store.ts';
import { decodeEvent, type StreamEvent } from './events/index.ts';
import {
  ERASURE_EVENT_TYPE,
  type ConsumeOptions,
  type EventLog,
  type LogConsumer,
  type RecordBatch,
  type StoredRecord,
} from './log/index.ts';
import type { StreamingMetrics } from './metrics.ts';
import { obj } from './snapshots/check.ts';
import { type PackedStrings, packStrings, unpackStrings } from './snapshots/columns.ts';
import {
  encodeParts,
  PROCESSOR_PART,
  serializePart,
  SnapshotInvalidError,
  type SnapshotPart,
  type SnapshotFile,
  type SnapshotStore,
} from './snapshots/store.ts';
import { runStepsCooperatively, type Steps } from './snapshots/steps.ts';

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
  /**
   * The handler keeps no state that replaying the log rebuilds: nothing to snapshot.
   * A handler with state implements `snapshot`/`restore` instead; if any handler has
   * neither, snapshots are off and a start replays the whole retained log.
   */
  readonly stateless?: boolean;
  /**
   * The handler's state as plain data (v8-serializable: objects, arrays, typed arrays,
   * Maps). Taken between batches, after `settle`: it reflects exactly the events handled.
   */
  snapshot?(): unknown;
  /**
   * The same state built in steps (snapshots/steps.ts), for a handler with much of it: the
   * processor lets the event loop turn between steps, so a large snapshot never blocks
   * HTTP, the gateway or intake for long. The state must not change between steps; it
   * does not, since the processor holds its lock (no batch, no erasure) meanwhile.
   */
  snapshotSteps?(): Steps<unknown>;
  /** Replaces the state with a `snapshot()`; validates all of it first and throws (state unchanged) when it is bad. */
  restore?(state: unknown): void;
  /** Resolves once no event handled so far is still pending inside the handler (called before `snapshot`). */
  settle?(): Promise<void>;
}

/** When the processor writes snapshots of the handlers' state (see `StreamProcessorOptions.snapshots`). */
export interface SnapshotPolicy {
  store: SnapshotStore;
  /** A snapshot after this many handled events. @default 100_000 */
  everyEvents?: number;
  /** …or this long after the last one, if anything was handled since, ms. @default 60_000 */
  everyMs?: number;
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
  /** Whether to check ids against those (see `#checkIds`). @default not on the embedded (SQLite) log */
  checkIds?: boolean;
  /** Sleep used between retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * An erasure marker (ERASURE_EVENT_TYPE) reached this processor: the user's state is to be
   * forgotten (the caller also drops caches). Called after every handler's `forget`.
   */
  onErased?: (userId: string) => void | Promise<void>;
  /**
   * Snapshots of the handlers' state: start restores the newest valid one and replays only
   * the log after its position; absent, every start replays the whole retained log.
   */
  snapshots?: SnapshotPolicy;
}

/** An event of the batch being handled, with its record and context. */
interface Pending {
  record: StoredRecord;
  event: StreamEvent;
  ctx: HandlerContext;
}

/** What the processor itself keeps in a snapshot besides the handlers' states. */
interface ProcessorState {
  /** Recently handled event ids, oldest first (the second line of dedupe), packed into one string. */
  recent: PackedStrings;
}

/** CPU time (user + system, ms) since `since`, a `process.cpuUsage()`. */
const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

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
 *
 * Snapshots (`snapshots`): between two batches — never during one — the handlers' states
 * and the position they cover (the last offset applied per partition) are serialized and
 * written to a file (snapshots/store.ts) every `everyEvents` handled events or `everyMs`,
 * on close, and after a GDPR erasure (older files are then scrubbed). Start restores the
 * newest file that verifies and that every handler accepts (else the one before, else a
 * full replay), and consumes from just after its position: records up to the group's
 * committed position still come flagged `replay`. Batches, snapshots and erasures run one
 * at a time (`#exclusive`), so a snapshot's state and position always agree.
 */
export class StreamProcessor {
  readonly #o: StreamProcessorOptions;
  readonly #applied = new Map<number, number>();
  /** Per partition, the last offset each handler (by index) applied of a batch that failed half-way. */
  readonly #progress = new Map<number, number[]>();
  /**
   * The second line of dedupe: ids already handled. The log drops duplicates within its
   * window, but a resend that reached another node (Kafka: each node has its own window)
   * or came after a power cut is in the log twice; handlers see it once. Part of a snapshot.
   */
  readonly #recent: FifoSet<string>;
  /**
   * Whether ids are checked against `#recent`. Not on the embedded log: it drops a repeated
   * id itself within its window of the newest appended ids (the same 250,000 by default), so
   * the check could only repeat its answer, at ~1.7 µs per event on the handlers' thread.
   * Kafka (idempotent producer, cross-node resends) keeps it.
   */
  readonly #checkIds: boolean;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #counts = new Map<string, number>();
  /** The hot outcomes per handler, [ok, replayed], counted without building a key per event. */
  readonly #okCounts = new Map<EventHandler, [number, number]>();
  readonly #lagAt = new Map<number, number>();
  /** Highest offset known per partition: read from the log at most once a second, raised by appends seen here. */
  readonly #heads = new Map<number, number>();
  #samples = 0;
  #consumer: LogConsumer | undefined;
  #handled = 0;
  /** Batches, snapshots and erasures, one at a time: the tail of the chain. */
  #lock: Promise<unknown> = Promise.resolve();
  /** Snapshots are on: a store is configured and every handler can snapshot (or has no state). */
  readonly #snapshots: SnapshotStore | undefined;
  readonly #everyEvents: number;
  readonly #everyMs: number;
  #sinceSnapshot = 0;
  #lastSnapshotAt = 0;
  #writing: Promise<SnapshotFile | undefined> | undefined;
  #erasedInBatch = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: StreamProcessorOptions) {
    this.#o = opts;
    this.#recent = new FifoSet<string>(opts.recentIds ?? 250_000);
    this.#checkIds = opts.checkIds ?? opts.log.kind !== 'sqlite';
    // A retry's backoff keeps the process alive (not unref'd): a close() that waits for the
    // batch must not be cut off by the process exiting under it (bounded: attempts × maxMs).
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#everyEvents = Math.max(1, opts.snapshots?.everyEvents ?? 100_000);
    this.#everyMs = Math.max(100, opts.snapshots?.everyMs ?? 60_000);
    this.#snapshots = opts.snapshots ? this.#snapshotStore(opts.snapshots.store) : undefined;
  }

  /** The store when every handler can take part in a snapshot; else undefined (logged once). */
  #snapshotStore(store: SnapshotStore): SnapshotStore | undefined {
    const names = new Set<string>();
    const unable: string[] = [];
    for (const h of this.#o.handlers) {
      if (names.has(h.name)) unable.push(`${h.name} (duplicate name)`);
      names.add(h.name);
      if (!h.stateless && !(h.snapshot && h.restore)) unable.push(h.name);
    }
    if (unable.length === 0) return store;
    this.#o.logger.warn(
      { handlers: unable, dir: store.dir },
      'stream snapshots disabled: a handler cannot snapshot its state; every start replays the whole retained log',
    );
    return undefined;
  }

  /** Events handled (live or replayed) since start; for tests and stats. */
  get handled(): number {
    return this.#handled;
  }

  /** Highest offset applied per partition. */
  get applied(): ReadonlyMap<number, number> {
    return this.#applied;
  }

  /** Whether snapshots of the handlers' state are written and restored. */
  get snapshotsEnabled(): boolean {
    return this.#snapshots !== undefined;
  }

  /**
   * Records appended but not handled yet, summed over partitions: the newest head known
   * (the log's, read at most once a second, or an append seen by `noteAppended`) minus
   * the last offset applied. Synchronous and cheap: intake reads it for every batch.
   */
  get lag(): number {
    let lag = 0;
    for (const [p, head] of this.#heads) lag += Math.max(0, head - (this.#applied.get(p) ?? 0));
    return lag;
  }

  /** An append of this node reached `offset` of `partition` (keeps `lag` current between log reads). */
  noteAppended(partition: number, offset: number): void {
    if (offset > (this.#heads.get(partition) ?? -1)) this.#heads.set(partition, offset);
  }

  async start(): Promise<void> {
    this.#closed = false;
    let from: ConsumeOptions['from'] = 'earliest';
    const heads = await this.#o.log.heads();
    for (const [p, head] of Object.entries(heads)) this.noteAppended(Number(p), head);
    if (this.#applied.size > 0) {
      // Started again in this process (after close): the state is here; go on after it.
      from = { after: Object.fromEntries(this.#applied) };
    } else if (this.#snapshots) {
      const restored = this.#restoreNewest(this.#snapshots);
      if (restored) from = { after: restored };
      let tail = 0;
      for (const [p, head] of Object.entries(heads)) tail += Math.max(0, head - (restored?.[Number(p)] ?? 0));
      this.#o.metrics.replayTail.set(tail);
      this.#o.metrics.snapshotStarts.labels(restored ? 'restored' : 'full_replay').inc();
      this.#o.logger.info(
        { restored: !!restored, positions: restored, tail, group: this.#o.group },
        restored
          ? 'stream handlers restored from a snapshot; replaying the log after it'
          : 'stream handlers start empty; replaying the whole retained log',
      );
    }
    if (this.#snapshots) {
      this.#lastSnapshotAt = Date.now();
      this.#timer = setInterval(
        () => {
          if (this.#sinceSnapshot > 0 && !this.#writing && Date.now() - this.#lastSnapshotAt >= this.#everyMs)
            void this.#exclusive(() => this.#snapshot('interval'));
        },
        Math.min(this.#everyMs, 1000),
      );
      this.#timer.unref();
    }
    this.#consumer = await this.#o.log.consume(
      this.#o.group,
      (b) => this.#exclusive(() => this.#onBatch(b)),
      {
        from,
        maxBatch: this.#o.maxBatch ?? 500,
      },
    );
  }

  /** Runs `fn` after everything queued before it (batches, snapshots, erasures), alone. */
  #exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Restores the newest snapshot that verifies and that every handler accepts; on a bad
   * one, puts the handlers back to empty and tries the one before. Returns the positions
   * restored, or undefined (full replay).
   */
  #restoreNewest(store: SnapshotStore): Record<number, number> | undefined {
    const stateful = this.#o.handlers.filter((h) => !h.stateless);
    // The handlers' empty states: a snapshot that fails half-way is undone with them.
    const empty = new Map(stateful.map((h) => [h.name, h.snapshot!()]));
    const m = this.#o.metrics;
    for (const file of store.files()) {
      const started = performance.now();
      try {
        const snap = store.read(file);
        const { header, bytes } = snap;
        if (header.log !== this.#o.log.kind || header.group !== this.#o.group)
          throw new SnapshotInvalidError(
            'mismatch',
            `snapshot of ${header.log}/${header.group}, not ${this.#o.log.kind}/${this.#o.group}`,
          );
        const names = stateful.map((h) => h.name);
        const partNames = header.parts.slice(1).map((p) => p.name);
        if (
          header.handlers.length !== names.length ||
          !names.every((n) => header.handlers.includes(n) && partNames.includes(n))
        )
          throw new SnapshotInvalidError(
            'mismatch',
            `snapshot holds handlers [${header.handlers.join(', ')}], this processor runs [${names.join(', ')}]`,
          );
        let c0 = process.cpuUsage();
        const recent = unpackStrings(
          obj(snap.part(PROCESSOR_PART), 'processor')['recent'],
          'processor.recent',
        );
        const cpu: Record<string, number> = { [PROCESSOR_PART]: cpuMs(c0) };
        // One part at a time: deserialize, restore, drop (never every handler's graph at once).
        for (const h of stateful) {
          c0 = process.cpuUsage();
          const state = snap.part(h.name);
          try {
            h.restore!(state);
          } catch (err) {
            throw new SnapshotInvalidError(
              'restore',
              `a handler refused the snapshot: ${(err as Error).message}`,
              {
                cause: err,
              },
            );
          }
          cpu[h.name] = cpuMs(c0);
        }
        for (const [part, ms] of Object.entries(cpu))
          m.snapshotPartCpu.labels(part, 'restore').set(ms / 1000);
        this.#recent.clear();
        for (const id of recent) this.#recent.add(id);
        const positions: Record<number, number> = {};
        for (const [p, offset] of Object.entries(header.positions)) {
          positions[Number(p)] = offset;
          this.#applied.set(Number(p), offset);
          m.snapshotOffset.labels(p).set(offset);
        }
        const seconds = (performance.now() - started) / 1000;
        m.snapshotDuration.labels('restore').observe(seconds);
        m.snapshotBytes.set(bytes);
        m.snapshotAt = Date.parse(header.createdAt) || Date.now();
        this.#o.logger.info(
          {
            file: file.name,
            bytes,
            ms: Math.round(seconds * 1000),
            parts: header.parts,
            cpuMs: cpu,
            positions,
            createdAt: header.createdAt,
          },
          'stream snapshot restored',
        );
        return positions;
      } catch (err) {
        const reason = err instanceof SnapshotInvalidError ? err.reason : 'restore';
        m.snapshotInvalid.labels(reason).inc();
        this.#o.logger.warn(
          { err, file: file.name, reason },
          'stream snapshot unusable; falling back to the previous one (or a full replay)',
        );
        for (const h of stateful) h.restore!(empty.get(h.name));
        this.#recent.clear();
        this.#applied.clear();
      }
    }
    return undefined;
  }

  /**
   * Serializes the handlers' state now (the caller holds the lock: between batches) and
   * queues the file write, which goes on in the background. Returns `{ write }` (resolves
   * with the file, or undefined when it failed: logged and counted; wrapped, so awaiting
   * this call does not wait for the disk), or undefined when skipped.
   */
  async #snapshot(
    reason: string,
    force = false,
  ): Promise<{ write: Promise<SnapshotFile | undefined> } | undefined> {
    const store = this.#snapshots;
    if (!store) return undefined;
    const m = this.#o.metrics;
    if (this.#writing && !force) {
      m.snapshotWrites.labels('skipped').inc();
      return undefined;
    }
    if (this.#progress.size > 0) {
      // A batch failed half-way (its redelivery has not come yet): the handlers' state is
      // ahead of the position a snapshot would record. The next one after it succeeds.
      m.snapshotWrites.labels('skipped').inc();
      this.#o.logger.warn({ reason }, 'stream snapshot skipped: a batch is only partly applied');
      return undefined;
    }
    for (const h of this.#o.handlers) await h.settle?.();
    const started = performance.now();
    // One part per handler: each handler's state is built and serialized before the next
    // one's, so only one handler's snapshot graph is alive at a time; the CPU time of each
    // is measured (process.cpuUsage: not the wall clock of a loaded machine).
    const cpu: Record<string, number> = {};
    let c0 = process.cpuUsage();
    // The longest the event loop waited at once: a slice of a handler's steps, or one part's
    // `snapshot()` + `v8.serialize` (a handler without steps, or the serialization itself).
    let longestBlockMs = 0;
    const parts: SnapshotPart[] = [
      serializePart(PROCESSOR_PART, {
        recent: packStrings(this.#recent.values()),
      } satisfies ProcessorState),
    ];
    cpu[PROCESSOR_PART] = cpuMs(c0);
    const names: string[] = [];
    for (const h of this.#o.handlers) {
      if (h.stateless) continue;
      // The event loop turns between two parts (HTTP, the gateway and intake go on; this
      // processor holds its lock, so no batch or erasure changes a handler meanwhile).
      await yieldTurn();
      let state: unknown;
      let stepsCpu = 0;
      let blockStarted = performance.now();
      c0 = process.cpuUsage();
      if (h.snapshotSteps) {
        const r = await runStepsCooperatively(h.snapshotSteps());
        state = r.value;
        stepsCpu = r.cpuMs;
        longestBlockMs = Math.max(longestBlockMs, r.longestSliceMs);
        blockStarted = performance.now();
        c0 = process.cpuUsage();
      } else {
        state = h.snapshot!();
      }
      parts.push(serializePart(h.name, state));
      cpu[h.name] = stepsCpu + cpuMs(c0);
      longestBlockMs = Math.max(longestBlockMs, performance.now() - blockStarted);
      names.push(h.name);
    }
    const positions = Object.fromEntries(this.#applied);
    const encoded = encodeParts(
      {
        createdAt: new Date().toISOString(),
        log: this.#o.log.kind,
        group: this.#o.group,
        positions,
        handlers: names,
        handled: this.#handled,
      },
      parts,
    );
    const serializeMs = performance.now() - started;
    m.snapshotDuration.labels('serialize').observe(serializeMs / 1000);
    m.snapshotLongestBlock.set(longestBlockMs / 1000);
    for (const p of encoded.header.parts) {
      m.snapshotPartBytes.labels(p.name).set(p.bytes);
      m.snapshotPartCpu.labels(p.name, 'serialize').set((cpu[p.name] ?? 0) / 1000);
    }
    this.#sinceSnapshot = 0;
    this.#lastSnapshotAt = Date.now();
    const takenAt = this.#lastSnapshotAt;
    const writeStarted = performance.now();
    const write = store.write(encoded).then(
      (file) => {
        const writeMs = performance.now() - writeStarted;
        m.snapshotDuration.labels('write').observe(writeMs / 1000);
        m.snapshotBytes.set(encoded.bytes);
        m.snapshotWrites.labels('ok').inc();
        m.snapshotAt = takenAt;
        for (const [p, o] of Object.entries(positions)) m.snapshotOffset.labels(p).set(o);
        this.#o.logger.info(
          {
            file: file.name,
            reason,
            bytes: encoded.bytes,
            serializeMs: Math.round(serializeMs),
            longestBlockMs: Math.round(longestBlockMs),
            parts: encoded.header.parts,
            serializeCpuMs: cpu,
            writeMs: Math.round(writeMs),
            positions,
          },
          'stream snapshot written',
        );
        return file;
      },
      (err: unknown) => {
        m.snapshotWrites.labels('failed').inc();
        this.#o.logger.error({ err, reason, dir: store.dir }, 'stream snapshot write failed');
        return undefined;
      },
    );
    const tracked = write.finally(() => {
      if (this.#writing === tracked) this.#writing = undefined;
    });
    this.#writing = tracked;
    return { write };
  }

  /**
   * After an erasure: a fresh snapshot (without the user), then every other snapshot file
   * scrubbed. If the fresh one cannot be written, every file goes (the next start replays
   * the log in full): no snapshot on disk keeps the erased user. Called with the lock held.
   */
  async #afterErasure(): Promise<void> {
    const store = this.#snapshots;
    if (!store) return;
    const taken = await this.#snapshot('erasure', true);
    const file = await taken?.write;
    await store.purge(file?.name);
  }

  /**
   * Resolves once the batch being handled when called (if any) is done, however it ended.
   * An erasure uses it: records read from the log before their deletion are applied by then,
   * so forgetting the user's state afterwards is final.
   */
  async settled(): Promise<void> {
    await this.#exclusive(() => undefined);
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

  /**
   * GDPR erasure on this node: between two batches, every handler forgets the user; then
   * no snapshot on disk may still hold them (a fresh one is written, the older ones are
   * scrubbed; before start, or with snapshots off, every file under the snapshot directory
   * goes).
   */
  async erase(userId: string): Promise<void> {
    await this.#exclusive(async () => {
      await this.forget(userId);
      if (this.#consumer && this.#snapshots) await this.#afterErasure();
      else await this.#o.snapshots?.store.purge();
    });
  }

  /** Scrubs older snapshots after an erasure another step already applied (Kafka: after the marker). */
  async purgeSnapshots(): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#consumer && this.#snapshots) await this.#afterErasure();
      else await this.#o.snapshots?.store.purge();
    });
  }

  /** Writes a snapshot now, between batches, and waits until it is durable (tests, operations). */
  async snapshotNow(): Promise<SnapshotFile | undefined> {
    const taken = await this.#exclusive(() => this.#snapshot('requested', true));
    return taken?.write;
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

  /**
   * One batch, handler by handler: the records are decoded and deduplicated once, then each
   * handler takes every event of the batch meant for it before the next handler starts
   * (its code and state stay hot in the CPU caches; a synchronous handler's loop awaits
   * nothing). Handlers are independent, so only the order within a handler matters, and it
   * is the log's. An erasure marker splits the batch: what comes before it is handled by
   * every handler first, then the user is forgotten. If the batch fails half-way (only a
   * dead-letter store failure escapes the handlers), each handler's progress in it is kept
   * and the redelivered batch resumes each handler after its own last event: none applies
   * an event twice.
   */
  async #onBatch(batch: RecordBatch): Promise<void> {
    const p = batch.partition;
    const applied = this.#applied.get(p) ?? -1;
    const handlers = this.#o.handlers;
    let progress = this.#progress.get(p);
    if (!progress) {
      progress = new Array<number>(handlers.length).fill(applied);
      this.#progress.set(p, progress);
    }
    const replay = batch.replay;
    const seg: Pending[] = [];
    const inBatch = new Set<string>();
    let n = 0;
    for (const record of batch.records) {
      if (record.offset <= applied) continue; // redelivered after a failed commit: already applied here
      n++;
      const event = this.#decode(record, replay);
      if (event instanceof Promise) await event;
      if (!event || event instanceof Promise) continue;
      if (this.#checkIds && (this.#recent.has(event.id) || inBatch.has(event.id))) {
        this.#count('*', 'skipped_duplicate');
        continue;
      }
      if (this.#checkIds) inBatch.add(event.id);
      if (event.type === ERASURE_EVENT_TYPE) {
        // Everything before the marker first, then the user is forgotten.
        await this.#runSegment(seg, progress);
        seg.length = 0;
        this.#count('*', 'erasure');
        this.#erasedInBatch = true;
        await this.forget(event.userId);
        this.#recent.add(event.id);
        continue;
      }
      const owner = this.#o.owns?.(event.userId) ?? true;
      seg.push({ record, event, ctx: { replay, owner, partition: p, offset: record.offset } });
    }
    await this.#runSegment(seg, progress);
    this.#progress.delete(p);
    const last = batch.records.at(-1);
    if (last && last.offset > applied) this.#applied.set(p, last.offset);
    this.#handled += n;
    this.#flushCounts();
    const now = Date.now();
    // Lag at most once a second per partition: for Kafka, heads() is a broker round trip.
    if (last && now - (this.#lagAt.get(p) ?? 0) >= 1000) {
      this.#lagAt.set(p, now);
      const heads = await this.#o.log.heads();
      for (const [q, head] of Object.entries(heads)) this.noteAppended(Number(q), head);
      this.#o.metrics.lag.labels(String(p)).set(Math.max(0, (heads[p] ?? last.offset) - last.offset));
    }
    if (!this.#snapshots) return;
    this.#sinceSnapshot += n;
    if (this.#erasedInBatch) {
      // An erasure marker (Kafka): no snapshot on disk may keep the user.
      this.#erasedInBatch = false;
      await this.#afterErasure();
    } else if (this.#sinceSnapshot >= this.#everyEvents) await this.#snapshot('events');
  }

  /**
   * Every handler over the events of a segment, one handler at a time, each resuming after
   * its own progress (a redelivered batch); the events' ids are remembered once all are done.
   */
  async #runSegment(seg: readonly Pending[], progress: number[]): Promise<void> {
    if (seg.length === 0) return;
    const handlers = this.#o.handlers;
    for (let hi = 0; hi < handlers.length; hi++) {
      const h = handlers[hi]!;
      const types = h.types;
      const done = progress[hi]!;
      for (let k = 0; k < seg.length; k++) {
        const it = seg[k]!;
        const offset = it.ctx.offset;
        if (offset <= done || !types.has(it.event.type)) continue;
        const pending = this.#run(h, it.event, it.ctx, it.record);
        if (pending) await pending;
        progress[hi] = offset;
      }
      progress[hi] = seg[seg.length - 1]!.ctx.offset;
    }
    if (this.#checkIds) for (let k = 0; k < seg.length; k++) this.#recent.add(seg[k]!.event.id);
  }

  /** Handler outcomes are counted locally and added to the Prometheus counters once per batch. */
  #count(handler: string, outcome: string): void {
    const k = `${handler}\u0000${outcome}`;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  #flushCounts(): void {
    for (const [h, c] of this.#okCounts) {
      if (c[0] > 0) this.#o.metrics.processed.labels(h.name, 'ok').inc(c[0]);
      if (c[1] > 0) this.#o.metrics.processed.labels(h.name, 'replayed').inc(c[1]);
      c[0] = c[1] = 0;
    }
    for (const [k, n] of this.#counts) {
      const [handler, outcome] = k.split('\u0000') as [string, string];
      this.#o.metrics.processed.labels(handler, outcome).inc(n);
    }
    this.#counts.clear();
  }

  /**
   * The record's event, or undefined when it is not to be handled: crypto-shredded (its
   * user was erased: unreadable by design, neither handled nor dead-lettered) or not an
   * event (dead-lettered as such, live only; a promise while that letter is written).
   */
  #decode(record: StoredRecord, replay: boolean): StreamEvent | undefined | Promise<undefined> {
    if (record.shredded) {
      this.#count('*', 'skipped_erased');
      return undefined;
    }
    // Intake's own parse of the event, when the log kept it (the SQLite log's tail).
    if (record.value !== undefined) return record.value as StreamEvent;
    try {
      return decodeEvent(record.body);
    } catch (err) {
      // A record that is not an event cannot be handled by anyone: dead-letter it as such.
      this.#o.logger.error(
        { err, partition: record.partition, offset: record.offset },
        'undecodable record in the event log',
      );
      if (replay) return undefined;
      return this.#deadLetter(record, undefined, 'decode', toBackbeatError(err), 1).then(() => undefined);
    }
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
    let c = this.#okCounts.get(h);
    if (!c) this.#okCounts.set(h, (c = [0, 0]));
    c[ctx.replay ? 1 : 0]++;
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
    // Leased for the replay: another replay (this node or another sharing the store) skips them.
    const items = await this.#o.dlq.take({
      ...(ids ? { ids } : {}),
      limit: ids ? ids.length : limit,
      leaseMs: DLQ_REPLAY_LEASE_MS,
    });
    const succeeded: string[] = [];
    const failed: Array<{ id: string; error: string }> = [];
    for (const dl of items) {
      const h = this.#o.handlers.find((x) => x.name === dl.handler);
      if (!h) {
        await this.#o.dlq.release([dl.id]);
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

  /**
   * Stops consuming (the batch in flight finishes and is committed), then writes a last
   * snapshot if anything was handled since the newest one, and waits for pending writes.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#consumer?.close();
    if (this.#snapshots && this.#consumer) {
      const taken = await this.#exclusive(() =>
        this.#sinceSnapshot > 0 ? this.#snapshot('close', true) : undefined,
      );
      await taken?.write;
      await this.#snapshots.idle();
    }
  }
}
