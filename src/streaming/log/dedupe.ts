import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * The bounded, persisted window of event ids already accepted, for engines that cannot
 * dedupe by themselves (Kafka: the idempotent producer only drops its own retries).
 * `claim` is durable when it resolves; an id stays in the window for `ttlMs` or until
 * `maxIds` newer ids pushed it out, whichever comes first.
 */
export interface DedupeWindow {
  /** Marks `ids` as seen; for each id, `true` when it had been seen already (a duplicate, also within `ids`). */
  claim(ids: readonly string[]): Promise<boolean[]>;
  /** Forgets `ids` (their append failed, so a retry must not count as a duplicate). */
  release(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface SqliteDedupeOptions {
  /** Ids remembered at most. @default 1_000_000 */
  maxIds?: number;
  /** How long an id is remembered, ms. @default 7 days */
  ttlMs?: number;
  now?: () => number;
}

/** The embedded window: one SQLite table (WAL, synchronous=FULL) under DATA_DIR; `:memory:` for tests. */
export class SqliteDedupeWindow implements DedupeWindow {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  readonly #maxIds: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #sincePrune = 0;

  constructor(path: string, opts: SqliteDedupeOptions = {}) {
    this.#maxIds = opts.maxIds ?? 1_000_000;
    this.#ttlMs = opts.ttlMs ?? 7 * 86_400_000;
    this.#now = opts.now ?? Date.now;
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS dedupe (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL);
    `);
    this.#get = this.#db.prepare('SELECT at FROM dedupe WHERE id = ?');
    this.#put = this.#db.prepare('INSERT INTO dedupe (id, at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at');
    this.#del = this.#db.prepare('DELETE FROM dedupe WHERE id = ?');
  }

  async claim(ids: readonly string[]): Promise<boolean[]> {
    const now = this.#now();
    const out: boolean[] = [];
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const id of ids) {
        const row = this.#get.get(id) as { at: number } | undefined;
        const seen = row !== undefined && Number(row.at) > now - this.#ttlMs;
        if (!seen) this.#put.run(id, now);
        out.push(seen);
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    this.#sincePrune += ids.length;
    if (this.#sincePrune >= 10_000) this.#prune(now);
    return out;
  }

  async release(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#del.run(id);
  }

  #prune(now: number): void {
    this.#sincePrune = 0;
    this.#db.prepare('DELETE FROM dedupe WHERE at <= ?').run(now - this.#ttlMs);
    this.#db.prepare('DELETE FROM dedupe WHERE seq <= (SELECT max(seq) FROM dedupe) - ?').run(this.#maxIds);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
