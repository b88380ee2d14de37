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
  /** Durable when it resolves; upserts by id, adding `attempts`. */
  put(dl: DeadLetter): Promise<void>;
  list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]>;
  get(ids: readonly string[]): Promise<DeadLetter[]>;
  remove(ids: readonly string[]): Promise<number>;
  count(): Promise<number>;
  /** The user's dead letters (GDPR export), oldest id first. */
  forUser(userId: string): Promise<DeadLetter[]>;
  /** Removes the user's dead letters for good (GDPR erasure); returns how many. Idempotent. */
  eraseUser(userId: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * The embedded store: a SQLite table (WAL, synchronous=FULL) under DATA_DIR, with
 * `secure_delete` on so a removed (or erased) dead letter leaves no bytes behind; an
 * erasure also checkpoints and truncates the WAL.
 */
export class SqliteDeadLetterStore implements DeadLetterStore {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #count: StatementSync;

  constructor(path: string) {
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
    this.#put = this.#db.prepare(`
      INSERT INTO dead_letters (id, handler, attempts, first_failed_at, last_failed_at, body) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET attempts = attempts + excluded.attempts, last_failed_at = excluded.last_failed_at,
        body = json_set(excluded.body, '$.attempts', attempts + excluded.attempts, '$.firstFailedAt', first_failed_at)`);
    this.#count = this.#db.prepare('SELECT count(*) AS n FROM dead_letters');
  }

  async put(dl: DeadLetter): Promise<void> {
    this.#put.run(dl.id, dl.handler, dl.attempts, dl.firstFailedAt, dl.lastFailedAt, JSON.stringify(dl));
  }

  async list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    const rows = this.#db
      .prepare(
        'SELECT body FROM dead_letters WHERE id > ? AND (? IS NULL OR handler = ?) ORDER BY id LIMIT ?',
      )
      .all(opts.after ?? '', opts.handler ?? null, opts.handler ?? null, opts.limit) as Array<{
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
