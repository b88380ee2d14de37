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
 * The last `max` ids added, in memory, oldest evicted first: the fast path of every dedupe
 * check (a B-tree insert per event id on disk costs ten times an append).
 *
 * A ring of the ids in the order added plus a Map from id to its sequence number (its slot
 * is `seq % max`, where its time is kept). Adding an id already in makes it the newest
 * (its old slot goes stale: evicting a slot deletes the id only if the Map still points at
 * that slot). No reordering on lookup, no size bookkeeping: an add is one Map insert, at
 * most one Map delete and two array stores (an LRU did several times that work per event on
 * the intake's hot path). The Map is never iterated, so the holes its deletes leave cost
 * nothing (iterating from the front is what degrades a Map evicting `keys().next()`).
 */
export class IdWindow {
  readonly #max: number;
  readonly #seqOf = new Map<string, number>();
  readonly #ring: string[] = [];
  readonly #ats: number[] = [];
  #seq = 0;

  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.#seqOf.size;
  }

  /** Seen at or after `since` (ms)? */
  has(id: string, since = -Infinity): boolean {
    const seq = this.#seqOf.get(id);
    return seq !== undefined && this.#ats[seq % this.#max]! >= since;
  }

  add(id: string, at = 0): void {
    const seq = this.#seq++;
    const slot = seq % this.#max;
    if (seq >= this.#max) {
      const old = this.#ring[slot]!;
      if (this.#seqOf.get(old) === seq - this.#max) this.#seqOf.delete(old);
      this.#ring[slot] = id;
      this.#ats[slot] = at;
    } else {
      this.#ring.push(id);
      this.#ats.push(at);
    }
    this.#seqOf.set(id, seq);
  }

  delete(id: string): void {
    this.#seqOf.delete(id);
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
