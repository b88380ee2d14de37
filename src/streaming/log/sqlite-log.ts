import { fdatasync, openSync, closeSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { IdWindow } from './dedupe.ts';
import type {
  AppendResult,
  BatchHandler,
  ConsumeOptions,
  EventLog,
  KeyErasure,
  LogConsumer,
  LogHealth,
  LogRecord,
  RecordBatch,
  StoredRecord,
} from './port.ts';

/** `PRAGMA user_version` of a file whose free pages are known to hold no erased content (see `eraseKey`). */
const SCRUBBED_VERSION = 1;

/** Most appends the in-memory tail keeps for this thread's consumers (see `SqliteEventLog.#tail`). */
const TAIL_MAX = 20_000;

export interface SqliteEventLogOptions {
  /** Records older than this (event time) are pruned, ms; 0 keeps them. @default 0 */
  retentionMs?: number;
  /** Newest records kept; 0 keeps all. @default 0 */
  retentionRecords?: number;
  /** How often retention runs, ms. @default 60_000 */
  retentionIntervalMs?: number;
  /** Newest event ids checked for duplicates (in memory, reloaded from the log at open). @default 250_000 */
  dedupeWindow?: number;
  now?: () => number;
}

/**
 * The embedded event log: one SQLite file (node:sqlite, no native build) in WAL mode; an
 * append that resolved survives `kill -9` and power loss. Durability by group commit: the
 * transaction commits with `synchronous=NORMAL` (SQLite writes the WAL frames, no fsync on
 * this thread), then the append waits for an `fdatasync` of the WAL file run on libuv's
 * thread pool; one such sync covers every append committed before it started, so appends
 * arriving meanwhile share the next one. That is what `synchronous=FULL` guarantees for a
 * committed transaction (its WAL frames on disk; SQLite itself syncs the WAL before and the
 * database after each checkpoint), without stopping this thread for every fsync
 * (bench/streaming/ingest.ts). Consumers and `heads` see only records already synced, so
 * nothing reaches a handler (or a snapshot's offset) that a power cut could take back.
 *
 * One partition (0): offsets from 1, a total order, so every user's
 * events are in order; offsets are never reused, and have holes where retention (by event
 * time) or a GDPR erasure removed records. Duplicates are dropped by id within the newest
 * `dedupeWindow` events (an in-memory window loaded from the log itself at open: no
 * index on ids, so an append is a sequential write). A single writer per file: this
 * node. Consumers are in-process loops that wake on append (no polling while idle).
 *
 * GDPR erasure (`eraseKey`) deletes a key's records in place: `secure_delete` is on, so
 * deleted cells and freed pages are overwritten with zeros (retention pays the same small
 * cost), and the WAL is checkpointed and truncated afterwards, so no page image in any
 * file under DATA_DIR keeps them.
 */
export class SqliteEventLog implements EventLog {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  /** A second connection for consumer offsets: synchronous=NORMAL (see the constructor). */
  readonly #offsetsDb: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #ids: IdWindow;
  readonly #read: StatementSync;
  readonly #commit: StatementSync;
  readonly #committed: StatementSync;
  readonly #head: StatementSync;
  readonly #seq: StatementSync;
  readonly #byKey: StatementSync;
  readonly #consumers = new Set<SqliteConsumer>();
  readonly #opts: Required<Omit<SqliteEventLogOptions, 'now'>> & { now: () => number };
  #retention: NodeJS.Timeout | undefined;
  /**
   * The newest appends, in offset order, with the `value` intake had parsed: this thread's
   * consumers read them from here rather than from the file (no SELECT, no second
   * JSON.parse of each body). Complete after `#tailBase`: this object is the file's only
   * writer, so every record with a higher offset is in it. Trimmed to what some consumer
   * has yet to read and to TAIL_MAX entries (so empty once consumers caught up); an erasure
   * or a retention run empties it (the file answers until the next appends).
   */
  #tail: StoredRecord[] = [];
  /** Index of the tail's oldest live entry (the array is compacted now and then). */
  #tailStart = 0;
  /** Offset after which the tail holds every record. */
  #tailBase: number;
  /** The WAL file (`<path>-wal`), opened on the first sync; undefined for `:memory:`. */
  readonly #walPath: string | undefined;
  #walFd: number | undefined;
  /** The last offset committed, and the last one known on disk (what consumers may read). */
  #committedOffset: number;
  #durable: number;
  /** The sync in flight, which covers every commit made before it started. */
  #syncing: Promise<void> | undefined;
  #syncs = 0;

  constructor(path: string, opts: SqliteEventLogOptions = {}) {
    this.#opts = {
      retentionMs: 0,
      retentionRecords: 0,
      retentionIntervalMs: 60_000,
      dedupeWindow: 250_000,
      now: Date.now,
      ...opts,
    };
    this.#db = new DatabaseSync(path);
    this.#walPath = path === ':memory:' || path === '' ? undefined : `${path}-wal`;
    // A new file has had secure_delete on from its first write: its free pages are clean.
    const fresh = !this.#db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get();
    // NORMAL: a commit writes the WAL without an fsync; append() syncs it (group commit, above).
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      PRAGMA secure_delete = ON;
      CREATE TABLE IF NOT EXISTS events (
        offset INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        key TEXT NOT NULL,
        ts INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
      CREATE TABLE IF NOT EXISTS consumer_offsets (grp TEXT PRIMARY KEY, offset INTEGER NOT NULL);
    `);
    if (fresh) this.#db.exec(`PRAGMA user_version = ${SCRUBBED_VERSION}`);
    // Consumer offsets need no fsync per commit: a commit lost to a power cut only means
    // those records come again (at-least-once), while the events themselves stay FULL.
    // `synchronous` is per connection, so offsets get their own.
    this.#offsetsDb = new DatabaseSync(path);
    this.#offsetsDb.exec('PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    // OR IGNORE: a file made by an older version has a UNIQUE id; a conflict there is a duplicate too.
    this.#insert = this.#db.prepare('INSERT OR IGNORE INTO events (id, key, ts, body) VALUES (?, ?, ?, ?)');
    this.#ids = new IdWindow(this.#opts.dedupeWindow);
    const recentIds = this.#db.prepare(
      'SELECT id FROM (SELECT offset, id FROM events ORDER BY offset DESC LIMIT ?) ORDER BY offset',
    );
    // Rows as arrays, not objects: at the default window (250k ids) about half the time.
    recentIds.setReturnArrays(true);
    for (const [id] of recentIds.all(this.#opts.dedupeWindow) as unknown as Array<[string]>)
      this.#ids.add(id);
    this.#read = this.#db.prepare(
      'SELECT offset, id, key, ts, body FROM events WHERE offset > ? AND offset <= ? ORDER BY offset LIMIT ?',
    );
    this.#commit = this.#offsetsDb.prepare(
      'INSERT INTO consumer_offsets (grp, offset) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET offset = max(offset, excluded.offset)',
    );
    this.#committed = this.#offsetsDb.prepare('SELECT offset FROM consumer_offsets WHERE grp = ?');
    // The highest offset held (not the sequence): after an erasure of the newest records the
    // head is the last record a consumer can reach, so "caught up" stays reachable.
    this.#head = this.#db.prepare('SELECT coalesce(max(offset), 0) AS head FROM events');
    this.#seq = this.#db.prepare(
      "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS seq",
    );
    this.#byKey = this.#db.prepare(
      'SELECT offset, id, key, ts, body FROM events WHERE key = ? ORDER BY offset LIMIT ?',
    );
    this.#tailBase = this.lastOffset();
    // What the file holds at open is what survived: all of it is readable.
    this.#committedOffset = this.#tailBase;
    this.#durable = this.#tailBase;
  }

  async start(): Promise<void> {
    if ((this.#opts.retentionMs || this.#opts.retentionRecords) && !this.#retention) {
      this.#retention = setInterval(() => this.runRetention(), this.#opts.retentionIntervalMs).unref();
    }
  }

  async append(records: readonly LogRecord[]): Promise<AppendResult[]> {
    const out: AppendResult[] = [];
    const added: StoredRecord[] = [];
    const inBatch = new Set<string>();
    // One transaction per batch, and one WAL sync shared with the appends around it.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of records) {
        if (this.#ids.has(r.id) || inBatch.has(r.id)) {
          out.push({ partition: 0, offset: -1, duplicate: true });
          continue;
        }
        const res = this.#insert.run(r.id, r.key, r.ts, r.body);
        if (Number(res.changes) === 0) {
          out.push({ partition: 0, offset: -1, duplicate: true });
          continue;
        }
        const offset = Number(res.lastInsertRowid);
        this.#committedOffset = Math.max(this.#committedOffset, offset);
        inBatch.add(r.id);
        added.push({ partition: 0, offset, id: r.id, key: r.key, ts: r.ts, body: r.body, value: r.value });
        out.push({ partition: 0, offset, duplicate: false });
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    // Committed: a repeat of these ids is a duplicate from now on (also while the sync runs).
    for (const r of added) {
      this.#ids.add(r.id);
      this.#tail.push(r);
    }
    // Over the bound the oldest entries leave (a consumer that far behind reads the file).
    while (this.#tail.length - this.#tailStart > TAIL_MAX)
      this.#tailBase = this.#tail[this.#tailStart++]!.offset;
    this.#compactTail();
    if (added.length > 0) await this.#syncedUpTo(added[added.length - 1]!.offset);
    return out;
  }

  /**
   * Resolves once the WAL is on disk up to `offset` (group commit): joins the sync in
   * flight, and when that one started before `offset` was committed, the next one. A failed
   * sync rejects everyone waiting on it; the next append's sync covers their records again.
   */
  async #syncedUpTo(offset: number): Promise<void> {
    while (this.#durable < offset) {
      this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
      await this.#syncing;
    }
  }

  async #sync(): Promise<void> {
    const covers = this.#committedOffset;
    this.#syncs++;
    if (this.#walPath !== undefined) {
      this.#walFd ??= openSync(this.#walPath, 'r');
      const fd = this.#walFd;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    }
    if (covers > this.#durable) {
      this.#durable = covers;
      for (const c of this.#consumers) c.wake();
    }
  }

  /** WAL syncs so far: fewer than appends when appends overlap (group commit; tests, diagnostics). */
  get syncs(): number {
    return this.#syncs;
  }

  /** Records held in the tail (tests). */
  get tailSize(): number {
    return this.#tail.length - this.#tailStart;
  }

  /** Every consumer of this log has read up to `position` or past it? Then the tail lets those records go. */
  trimTail(): void {
    let min = Number.MAX_SAFE_INTEGER;
    for (const c of this.#consumers) min = Math.min(min, c.position);
    const tail = this.#tail;
    while (this.#tailStart < tail.length && tail[this.#tailStart]!.offset <= min)
      this.#tailBase = tail[this.#tailStart++]!.offset;
    this.#compactTail();
  }

  #compactTail(): void {
    if (this.#tailStart === this.#tail.length) {
      this.#tail = [];
      this.#tailStart = 0;
    } else if (this.#tailStart > 4096 && this.#tailStart * 2 > this.#tail.length) {
      this.#tail = this.#tail.slice(this.#tailStart);
      this.#tailStart = 0;
    }
  }

  /** Records were deleted (erasure, retention): the file answers until the next appends. */
  #resetTail(): void {
    this.#tail = [];
    this.#tailStart = 0;
    this.#tailBase = this.lastOffset();
  }

  async consume(group: string, handler: BatchHandler, opts: ConsumeOptions = {}): Promise<LogConsumer> {
    const committed = this.committedSync(group);
    const from = opts.from ?? 'committed';
    const c = new SqliteConsumer(this, group, handler, {
      position: from === 'earliest' ? 0 : from === 'committed' ? committed : (from.after[0] ?? 0),
      replayUntil: from === 'committed' ? 0 : committed,
      maxBatch: opts.maxBatch ?? 500,
      backoffMs: opts.retryBackoffMs ?? 50,
    });
    this.#consumers.add(c);
    c.done.finally(() => this.#consumers.delete(c)).catch(() => undefined);
    return c;
  }

  /** Records with `after < offset ≤ upTo`, oldest first, at most `limit` (offsets may have holes). */
  readSync(after: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): StoredRecord[] {
    // Committed but not yet on disk: not readable yet (its sync wakes the consumers).
    upTo = Math.min(upTo, this.#durable);
    if (upTo <= after) return [];
    const tail = this.#tail;
    if (after >= this.#tailBase && tail.length > this.#tailStart && tail[tail.length - 1]!.offset > after) {
      // Everything after `after` is in the tail: binary search for the first record past it.
      let lo = this.#tailStart;
      let hi = tail.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (tail[mid]!.offset > after) hi = mid;
        else lo = mid + 1;
      }
      const out: StoredRecord[] = [];
      for (let i = lo; i < tail.length && out.length < limit; i++) {
        const r = tail[i]!;
        if (r.offset > upTo) break;
        out.push(r);
      }
      return out;
    }
    return (this.#read.all(after, upTo, limit) as unknown as Array<Omit<StoredRecord, 'partition'>>).map(
      toStored,
    );
  }

  /** Every record of `key`, oldest first (a scan of the table: keys have no index, so appends stay sequential writes). */
  async readKey(key: string, opts: { limit?: number } = {}): Promise<StoredRecord[]> {
    return (this.#byKey.all(key, opts.limit ?? -1) as unknown as Array<Omit<StoredRecord, 'partition'>>).map(
      toStored,
    );
  }

  /**
   * GDPR erasure of `key`: deletes its records (zeroed in place: secure_delete), then
   * checkpoints the WAL into the file and truncates it, so neither the database file nor
   * the WAL keeps them. A file written before secure_delete was on may hold old content
   * in free pages (retention deletes): the first erasure on such a file VACUUMs it once.
   * Consumers skip the holes (they read offset ranges).
   */
  async eraseKey(key: string): Promise<KeyErasure> {
    // Appends already committed reach the disk first (their consumers see them in order).
    await this.#syncedUpTo(this.#committedOffset);
    this.#db.exec('BEGIN IMMEDIATE');
    let deleted: number;
    try {
      deleted = Number(this.#db.prepare('DELETE FROM events WHERE key = ?').run(key).changes);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    this.#resetTail();
    const version = Number(
      (this.#db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version,
    );
    if (version < SCRUBBED_VERSION) {
      const free = Number(
        (this.#db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count,
      );
      if (free > 0) this.#db.exec('VACUUM');
      this.#db.exec(`PRAGMA user_version = ${SCRUBBED_VERSION}`);
    }
    checkpointTruncate(this.#db, 'event log');
    return { deleted, keysDestroyed: 0 };
  }

  commitSync(group: string, offset: number): void {
    this.#commit.run(group, offset);
  }

  committedSync(group: string): number {
    const row = this.#committed.get(group) as { offset: number } | undefined;
    return row ? Number(row.offset) : 0;
  }

  async heads(): Promise<Record<number, number>> {
    // Records not yet synced are not readable yet (see readSync).
    const head = Math.min(Number((this.#head.get() as { head: number }).head), this.#durable);
    return head > 0 ? { 0: head } : {};
  }

  /** The last offset ever given (offsets are never reused, whatever was pruned or erased). */
  lastOffset(): number {
    return Number((this.#seq.get() as { seq: number }).seq);
  }

  /** Drops records older than `beforeTs` or beyond the newest `keep`; returns how many went. */
  prune(opts: { beforeTs?: number; keep?: number }): number {
    let n = 0;
    if (opts.beforeTs !== undefined)
      n += Number(this.#db.prepare('DELETE FROM events WHERE ts < ?').run(opts.beforeTs).changes);
    if (opts.keep !== undefined) {
      const head = this.lastOffset();
      n += Number(this.#db.prepare('DELETE FROM events WHERE offset <= ?').run(head - opts.keep).changes);
    }
    if (n > 0) this.#resetTail();
    return n;
  }

  runRetention(): number {
    if (!this.#db.isOpen) return 0;
    return this.prune({
      ...(this.#opts.retentionMs ? { beforeTs: this.#opts.now() - this.#opts.retentionMs } : {}),
      ...(this.#opts.retentionRecords ? { keep: this.#opts.retentionRecords } : {}),
    });
  }

  health(): LogHealth {
    return this.#db.isOpen ? { ok: true } : { ok: false, detail: 'closed' };
  }

  async close(): Promise<void> {
    if (this.#retention) clearInterval(this.#retention);
    await Promise.all([...this.#consumers].map((c) => c.close()));
    await this.#syncing?.catch(() => undefined);
    if (this.#offsetsDb.isOpen) this.#offsetsDb.close();
    if (this.#db.isOpen) this.#db.close();
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
    this.#tail = [];
    this.#tailStart = 0;
  }
}

function toStored(r: Omit<StoredRecord, 'partition'>): StoredRecord {
  return { partition: 0, offset: Number(r.offset), id: r.id, key: r.key, ts: Number(r.ts), body: r.body };
}

/**
 * `PRAGMA wal_checkpoint(TRUNCATE)`: copies every WAL frame into the database file and
 * truncates the WAL to zero bytes. Busy (a reader in the middle of a transaction) is an
 * error: the caller (an erasure) is retried rather than reported done.
 */
export function checkpointTruncate(db: DatabaseSync, what: string): void {
  const row = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
  if (row && Number(row.busy) !== 0)
    throw new Error(`${what}: WAL checkpoint could not complete (busy); retry`);
}

/** Longest a consumer loop runs batches back to back before it lets the event loop turn, ms. */
const YIELD_MS = 10;

/** One consumer loop: read after the position, hand the batch over, commit, repeat; sleep until an append wakes it. */
class SqliteConsumer implements LogConsumer {
  readonly done: Promise<void>;
  #position: number;
  #closed = false;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    log: SqliteEventLog,
    group: string,
    handler: BatchHandler,
    s: { position: number; replayUntil: number; maxBatch: number; backoffMs: number },
  ) {
    this.#position = s.position;
    this.done = this.#run(log, group, handler, s);
  }

  /** The last offset read and handed over (the log's tail keeps only what some consumer has yet to read). */
  get position(): number {
    return this.#position;
  }

  wake(): void {
    this.#wake?.();
  }

  async #sleep(ms: number | undefined): Promise<void> {
    // Closed while the loop was handling a batch or letting the event loop turn: no sleep
    // (its timer is unref'd, so a sleep begun after close() would never end in a process
    // with nothing else to do, and close() would wait for it forever).
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (ms !== undefined) this.#timer = setTimeout(resolve, ms).unref();
    });
    this.#wake = undefined;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #run(
    log: SqliteEventLog,
    group: string,
    handler: BatchHandler,
    s: { position: number; replayUntil: number; maxBatch: number; backoffMs: number },
  ): Promise<void> {
    let failures = 0;
    let yieldedAt = performance.now();
    while (!this.#closed) {
      // Reading and handling never wait on I/O while records are there (a replay, a
      // backlog): without a turn of the event loop now and then, nothing else on this
      // thread would run until the log is drained: HTTP, the gateway, timers, the stream
      // worker's requests. A macrotask turn at least every YIELD_MS.
      if (performance.now() - yieldedAt >= YIELD_MS) {
        await new Promise((r) => setImmediate(r));
        yieldedAt = performance.now();
      }
      const replay = this.#position < s.replayUntil;
      const records = log.health().ok
        ? log.readSync(this.#position, s.maxBatch, replay ? s.replayUntil : undefined)
        : [];
      if (records.length === 0) {
        await this.#sleep(1000); // woken by append; the timeout only guards against a missed wake
        continue;
      }
      const batch: RecordBatch = { partition: 0, records, replay };
      try {
        await handler(batch);
      } catch {
        // At-least-once: the same batch again after a backoff (full jitter, doubling, ≤ 5 s).
        failures++;
        await this.#sleep(Math.random() * Math.min(5000, s.backoffMs * 2 ** Math.min(failures, 16)));
        continue;
      }
      failures = 0;
      this.#position = records.at(-1)!.offset;
      if (!replay) log.commitSync(group, this.#position);
      log.trimTail();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.done;
  }
}
