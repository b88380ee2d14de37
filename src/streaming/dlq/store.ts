import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { StreamEvent } from '../events/index.ts';
import { checkpointTruncate } from '../log/sqlite-log.ts';

/**
 * The dead-letter queue: events a handler could not process after its retries (or at
 * once, for a non-retriable error), with the error, the attempts and the handler, until
 * an operator replays or drops them. One entry per (event, handler): a second failure of
 * the same pair updates the entry (attempts add up) instead of duplicating it.
 */
export interface DeadLetter {
  /** `<eventId>/<handler>`. */
  id: string;
  eventId: string;
  handler: string;
  event: StreamEvent;
  error: { code: string; message: string; retriable: boolean };
  attempts: number;
  firstFailedAt: number;
  lastFailedAt: number;
  /** Where the event sits in the log. */
  partition: number;
  offset: number;
}

export interface DeadLetterStore {
  /**
   * Durable when it resolves; upserts by id, adding `attempts` (the first `firstFailedAt`
   * stays) and ending any replay lease on the letter. Over the store's cap the oldest
   * letters (by first failure) are dropped, counted by `onDropped`.
   */
  put(dl: DeadLetter): Promise<void>;
  /** Letters by id, after the cursor `after` (an id), optionally of one handler only. */
  list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]>;
  get(ids: readonly string[]): Promise<DeadLetter[]>;
  remove(ids: readonly string[]): Promise<number>;
  count(): Promise<number>;
  /**
   * Claims letters for a replay (the given ids, or the first `limit` by id): each returned
   * letter is leased to the caller for `leaseMs`, and no other `take` (on any node sharing
   * the store) returns it until the lease ends — by `remove` (replayed), `put` (failed
   * again), `release`, or expiry (the replaying node died: the letter is takeable again,
   * never lost). Atomic: two nodes replaying at once get disjoint letters.
   */
  take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]>;
  /** Ends the replay lease of `ids` without changing them. */
  release(ids: readonly string[]): Promise<void>;
  /** The user's dead letters (GDPR export), oldest id first. */
  forUser(userId: string): Promise<DeadLetter[]>;
  /** Removes the user's dead letters for good (GDPR erasure); returns how many. Idempotent. */
  eraseUser(userId: string): Promise<number>;
  close(): Promise<void>;
}

/** The options every engine takes. */
export interface DeadLetterStoreOptions {
  /** Letters kept at most; a put over it drops the oldest (by first failure). @default DEFAULT_MAX_DEAD_LETTERS */
  maxLetters?: number;
  /** Called with how many letters a put dropped over the cap (the `backbeat_streaming_dead_letters_dropped_total` metric). */
  onDropped?: (n: number) => void;
  /** Clock of the replay leases, ms. @default Date.now */
  now?: () => number;
}

/**
 * Letters kept at most by default: dead letters are an operator's queue, not a log: a
 * handler failing on every event would otherwise grow it without bound.
 */
export const DEFAULT_MAX_DEAD_LETTERS = 100_000;
/** How long a replay holds the letters it took; a node that dies mid-replay frees them after it. */
export const DLQ_REPLAY_LEASE_MS = 15 * 60_000;
/** Most letters one `take` returns. */
export const MAX_TAKE = 10_000;

/**
 * The embedded store: a SQLite table (WAL, synchronous=FULL) under DATA_DIR, with
 * `secure_delete` on so a removed (or erased) dead letter leaves no bytes behind; an
 * erasure also checkpoints and truncates the WAL. One process per file, so every
 * statement is atomic by itself (a `take` is one UPDATE … RETURNING).
 */
export class SqliteDeadLetterStore implements DeadLetterStore {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #count: StatementSync;
  readonly #max: number;
  readonly #o: DeadLetterStoreOptions;

  constructor(path: string, opts: DeadLetterStoreOptions = {}) {
    this.#o = opts;
    this.#max = Math.max(1, opts.maxLetters ?? DEFAULT_MAX_DEAD_LETTERS);
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA secure_delete = ON;
      CREATE TABLE IF NOT EXISTS dead_letters (
        id TEXT PRIMARY KEY, handler TEXT NOT NULL, attempts INTEGER NOT NULL,
        first_failed_at INTEGER NOT NULL, last_failed_at INTEGER NOT NULL, body TEXT NOT NULL
      );
    `);
    // Files written before replay leases existed get the column (0: not leased).
    const cols = this.#db.prepare('PRAGMA table_info(dead_letters)').all() as Array<{ name: string }>;
    if (!cols.some((c) => c.name === 'lease_until'))
      this.#db.exec('ALTER TABLE dead_letters ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0');
    this.#db.exec('CREATE INDEX IF NOT EXISTS dead_letters_first ON dead_letters (first_failed_at, id)');
    this.#put = this.#db.prepare(`
      INSERT INTO dead_letters (id, handler, attempts, first_failed_at, last_failed_at, body) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET attempts = attempts + excluded.attempts, last_failed_at = excluded.last_failed_at,
        lease_until = 0,
        body = json_set(excluded.body, '$.attempts', attempts + excluded.attempts, '$.firstFailedAt', first_failed_at)`);
    this.#count = this.#db.prepare('SELECT count(*) AS n FROM dead_letters');
  }

  async put(dl: DeadLetter): Promise<void> {
    this.#put.run(dl.id, dl.handler, dl.attempts, dl.firstFailedAt, dl.lastFailedAt, JSON.stringify(dl));
    const over = Number((this.#count.get() as { n: number }).n) - this.#max;
    if (over > 0) {
      const dropped = Number(
        this.#db
          .prepare(
            'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY first_failed_at, id LIMIT ?)',
          )
          .run(over).changes,
      );
      if (dropped) this.#o.onDropped?.(dropped);
    }
  }

  async list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    const rows = this.#db
      .prepare(
        'SELECT body FROM dead_letters WHERE id > ? AND (? IS NULL OR handler = ?) ORDER BY id LIMIT ?',
      )
      .all(opts.after ?? '', opts.handler ?? null, opts.handler ?? null, clampLimit(opts.limit)) as Array<{
      body: string;
    }>;
    return rows.map((r) => JSON.parse(r.body) as DeadLetter);
  }

  async get(ids: readonly string[]): Promise<DeadLetter[]> {
    const stmt = this.#db.prepare('SELECT body FROM dead_letters WHERE id = ?');
    return ids.flatMap((id) => {
      const row = stmt.get(id) as { body: string } | undefined;
      return row ? [JSON.parse(row.body) as DeadLetter] : [];
    });
  }

  async remove(ids: readonly string[]): Promise<number> {
    const stmt = this.#db.prepare('DELETE FROM dead_letters WHERE id = ?');
    let n = 0;
    for (const id of ids) n += Number(stmt.run(id).changes);
    return n;
  }

  async count(): Promise<number> {
    return Number((this.#count.get() as { n: number }).n);
  }

  async take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]> {
    const now = (this.#o.now ?? Date.now)();
    const until = now + Math.max(1, opts.leaseMs);
    const limit = Math.min(clampLimit(opts.limit), MAX_TAKE);
    if (opts.ids) {
      const stmt = this.#db.prepare(
        'UPDATE dead_letters SET lease_until = ? WHERE id = ? AND lease_until <= ? RETURNING body',
      );
      return [...new Set(opts.ids)].slice(0, limit).flatMap((id) => {
        const row = stmt.get(until, id, now) as { body: string } | undefined;
        return row ? [JSON.parse(row.body) as DeadLetter] : [];
      });
    }
    const rows = this.#db
      .prepare(
        `UPDATE dead_letters SET lease_until = ? WHERE id IN
           (SELECT id FROM dead_letters WHERE lease_until <= ? ORDER BY id LIMIT ?) RETURNING body`,
      )
      .all(until, now, limit) as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as DeadLetter).sort((a, b) => cmp(a.id, b.id));
  }

  async release(ids: readonly string[]): Promise<void> {
    const stmt = this.#db.prepare('UPDATE dead_letters SET lease_until = 0 WHERE id = ?');
    for (const id of ids) stmt.run(id);
  }

  // The user is inside the JSON body (no column of its own: dead letters are few, a scan is fine).
  async forUser(userId: string): Promise<DeadLetter[]> {
    const rows = this.#db
      .prepare("SELECT body FROM dead_letters WHERE json_extract(body, '$.event.userId') = ? ORDER BY id")
      .all(userId) as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as DeadLetter);
  }

  async eraseUser(userId: string): Promise<number> {
    const n = Number(
      this.#db.prepare("DELETE FROM dead_letters WHERE json_extract(body, '$.event.userId') = ?").run(userId)
        .changes,
    );
    checkpointTruncate(this.#db, 'dead-letter store');
    return n;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** A page size clamped to 1…MAX_TAKE. */
export function clampLimit(limit: number): number {
  return Math.max(1, Math.min(MAX_TAKE, Math.floor(Number.isFinite(limit) ? limit : 1)));
}

/** Code-unit order (what SQLite's and Redis' byte order give for the ids Backbeat makes). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
