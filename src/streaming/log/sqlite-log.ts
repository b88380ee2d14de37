import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AppendResult, EventLog, LogRecord, StoredRecord } from './port.ts';

/**
 * The embedded event log: one SQLite file (node:sqlite, no native build) in WAL mode
 * with `synchronous=FULL`, so an append that resolved survives `kill -9` and power loss
 * of the process. Ids are unique (the dedupe window is the retained log). A single
 * writer per file: this node.
 */
export class SqliteEventLog implements EventLog {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #byId: StatementSync;
  readonly #read: StatementSync;
  readonly #commit: StatementSync;
  readonly #committed: StatementSync;
  readonly #head: StatementSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS events (
        offset INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        ts INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
      CREATE TABLE IF NOT EXISTS consumer_offsets (grp TEXT PRIMARY KEY, offset INTEGER NOT NULL);
    `);
    this.#insert = this.#db.prepare('INSERT INTO events (id, key, ts, body) VALUES (?, ?, ?, ?)');
    this.#byId = this.#db.prepare('SELECT offset FROM events WHERE id = ?');
    this.#read = this.#db.prepare('SELECT offset, id, key, ts, body FROM events WHERE offset > ? ORDER BY offset LIMIT ?');
    this.#commit = this.#db.prepare(
      'INSERT INTO consumer_offsets (grp, offset) VALUES (?, ?) ON CONFLICT(grp) DO UPDATE SET offset = max(offset, excluded.offset)',
    );
    this.#committed = this.#db.prepare('SELECT offset FROM consumer_offsets WHERE grp = ?');
    this.#head = this.#db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS head");
  }

  async append(records: readonly LogRecord[]): Promise<AppendResult[]> {
    const out: AppendResult[] = [];
    // One transaction per batch: one fsync for the whole batch.
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of records) {
        // Look up first: an ignored INSERT would still consume an AUTOINCREMENT number
        // and leave a hole in the offsets.
        const seen = this.#byId.get(r.id) as { offset: number } | undefined;
        if (seen) out.push({ offset: Number(seen.offset), duplicate: true });
        else out.push({ offset: Number(this.#insert.run(r.id, r.key, r.ts, r.body).lastInsertRowid), duplicate: false });
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return out;
  }

  async read(afterOffset: number, limit: number): Promise<StoredRecord[]> {
    return (this.#read.all(afterOffset, limit) as unknown as StoredRecord[]).map((r) => ({ ...r, offset: Number(r.offset), ts: Number(r.ts) }));
  }

  async commit(group: string, offset: number): Promise<void> {
    this.#commit.run(group, offset);
  }

  async committed(group: string): Promise<number> {
    const row = this.#committed.get(group) as { offset: number } | undefined;
    return row ? Number(row.offset) : 0;
  }

  async head(): Promise<number> {
    return Number((this.#head.get() as { head: number }).head);
  }

  async prune(opts: { beforeTs?: number; keep?: number }): Promise<number> {
    let n = 0;
    if (opts.beforeTs !== undefined) n += Number(this.#db.prepare('DELETE FROM events WHERE ts < ?').run(opts.beforeTs).changes);
    if (opts.keep !== undefined) {
      const head = await this.head();
      n += Number(this.#db.prepare('DELETE FROM events WHERE offset <= ?').run(head - opts.keep).changes);
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
