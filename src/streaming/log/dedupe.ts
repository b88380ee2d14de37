import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
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
  /**
   * The append of claimed `ids` is durable. Windows shared by nodes (Redis) hold a claim as
   * pending until then, so another node never answers "duplicate" for an event whose
   * first append may still fail. Local windows need no such step.
   */
  commit?(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The last `max` ids seen, in memory, oldest evicted first: the fast path of every dedupe
 * check (a B-tree insert per event id on disk costs ten times an append).
 */
export class IdWindow {
  /**
   * lru-cache, not a Map evicting `keys().next()`: V8 leaves deleted Map entries as holes
   * that iteration from the front must skip, so that eviction slows to O(window) per add
   * once the window is full (measured: 3.6M adds/s falling to ~10k/s past 250k ids).
   */
  readonly #ids: LRUCache<string, number>;

  constructor(max: number) {
    this.#ids = boundedCache<string, number>(max);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Seen at or after `since` (ms)? */
  has(id: string, since = -Infinity): boolean {
    const at = this.#ids.peek(id);
    return at !== undefined && at >= since;
  }

  add(id: string, at = 0): void {
    // set() makes the id the newest; over the bound the oldest is evicted in O(1).
    this.#ids.set(id, at);
  }

  delete(id: string): void {
    this.#ids.delete(id);
  }
}

export interface SqliteDedupeOptions {
  /** Ids remembered at most. @default 250_000 */
  maxIds?: number;
  /** How long an id is remembered, ms. @default 7 days */
  ttlMs?: number;
  now?: () => number;
}

/**
 * The embedded window: an `IdWindow` in memory, persisted as an append-only SQLite table
 * under DATA_DIR (no index: appends are sequential writes) and loaded back at open. WAL
 * with synchronous=NORMAL: a claim survives a crash of the process (the WAL is in the OS
 * page cache); only a power cut can lose the last claims, and then a resend of those
 * events is appended again — at-least-once, never a loss (the stream processor drops
 * repeats of recently handled ids as well).
 */
export class SqliteDedupeWindow implements DedupeWindow {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #inserts = new Map<number, StatementSync>();
  readonly #window: IdWindow;
  readonly #maxIds: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #sincePrune = 0;

  constructor(path: string, opts: SqliteDedupeOptions = {}) {
    this.#maxIds = opts.maxIds ?? 250_000;
    this.#ttlMs = opts.ttlMs ?? 7 * 86_400_000;
    this.#now = opts.now ?? Date.now;
    this.#window = new IdWindow(this.#maxIds);
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS claims (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, at INTEGER NOT NULL);
    `);
    this.#put = this.#db.prepare('INSERT INTO claims (id, at) VALUES (?, ?)');
    // Oldest first, so later claims (and releases, at = -1) win.
    const rows = this.#db
      .prepare('SELECT id, at FROM (SELECT seq, id, at FROM claims ORDER BY seq DESC LIMIT ?) ORDER BY seq')
      .all(this.#maxIds * 2) as Array<{ id: string; at: number }>;
    for (const r of rows) {
      if (Number(r.at) < 0) this.#window.delete(r.id);
      else this.#window.add(r.id, Number(r.at));
    }
  }

  async claim(ids: readonly string[]): Promise<boolean[]> {
    const now = this.#now();
    const since = now - this.#ttlMs + 1;
    const out: boolean[] = [];
    const fresh: string[] = [];
    const inCall = new Set<string>();
    for (const id of ids) {
      const dup = inCall.has(id) || this.#window.has(id, since);
      out.push(dup);
      if (!dup) {
        inCall.add(id);
        fresh.push(id);
      }
    }
    if (fresh.length) {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        // Multi-row inserts of up to CHUNK rows: one native call per chunk, not per id.
        for (let i = 0; i < fresh.length; i += CHUNK) {
          const chunk = fresh.slice(i, i + CHUNK);
          const params: Array<string | number> = [];
          for (const id of chunk) params.push(id, now);
          this.#insertRows(chunk.length).run(...params);
        }
        this.#db.exec('COMMIT');
      } catch (err) {
        this.#db.exec('ROLLBACK');
        throw err;
      }
      for (const id of fresh) this.#window.add(id, now);
    }
    this.#sincePrune += fresh.length;
    if (this.#sincePrune >= 50_000) this.#prune();
    return out;
  }

  #insertRows(n: number): StatementSync {
    let stmt = this.#inserts.get(n);
    if (!stmt) {
      stmt = this.#db.prepare(
        `INSERT INTO claims (id, at) VALUES ${Array.from({ length: n }, () => '(?, ?)').join(', ')}`,
      );
      this.#inserts.set(n, stmt);
    }
    return stmt;
  }

  async release(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      this.#window.delete(id);
      this.#put.run(id, -1);
    }
  }

  /** The table keeps twice the window, so a reload sees every live claim and the releases after it. */
  #prune(): void {
    this.#sincePrune = 0;
    this.#db
      .prepare('DELETE FROM claims WHERE seq <= (SELECT max(seq) FROM claims) - ?')
      .run(this.#maxIds * 2);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

const CHUNK = 100;
