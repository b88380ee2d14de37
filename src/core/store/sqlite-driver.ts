import { boundedCache } from '../cache/index.ts';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Dialect, Row, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';
import { StoreUnavailableError } from './errors.ts';

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  types: { bigint: 'INTEGER', bool: 'INTEGER', json: 'TEXT' },
  forUpdate: '',
  // One writer: a claim is a single UPDATE statement, atomic by itself.
  skipLocked: '',
  jsonText: (column) => column,
  maxParams: 32_000,
};

/** Prepared statements kept per connection; the SQL set is small and static, except IN lists. */
const STATEMENT_CACHE = 256;

/** SQLite primary result codes that mean "the database is not usable", not "this statement is wrong". */
const UNAVAILABLE_CODES = new Set([
  5 /* BUSY */, 6 /* LOCKED */, 8 /* READONLY */, 10 /* IOERR */, 11 /* CORRUPT */, 13 /* FULL */,
  14 /* CANTOPEN */, 26 /* NOTADB */,
]);

/** SQLite has no boolean type: true/false are stored as 1/0. */
const bind = (params: readonly SqlValue[]): SQLInputValue[] =>
  params.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));

/**
 * node:sqlite behind the async `SqlDriver` seam. One connection; WAL with
 * `synchronous=FULL` (a resolved write survives a crash or power loss), foreign keys on,
 * `secure_delete=ON` (deleted content is overwritten, so erased data does not linger in
 * free pages). The connection is synchronous, so a transaction that awaits between its
 * statements holds an async lock: other calls wait for it rather than run inside it.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = sqliteDialect;
  readonly description: string;
  readonly #db: DatabaseSync;
  /** Least recently used out first, in O(1) (lru-cache). */
  readonly #statements = boundedCache<string, StatementSync>(STATEMENT_CACHE);
  /** Work queued behind the lock (a transaction, or calls made while one runs). */
  #queued = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #closed: Promise<void> | undefined;

  readonly #direct: SqlExecutor = {
    all: async (sql, params) => this.#all(sql, params),
    get: async (sql, params) => this.#all(sql, params)[0],
    run: async (sql, params) => this.#run(sql, params),
  };

  constructor(path: string) {
    this.description = `SQLite ${path}`;
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec(`
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = FULL;
        PRAGMA foreign_keys = ON;
        PRAGMA secure_delete = ON;
        PRAGMA busy_timeout = 5000;
      `);
    } catch (err) {
      throw this.#wrap(err, true);
    }
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#exclusive(() => this.#all(sql, params));
  }

  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.#exclusive(() => this.#all(sql, params)[0]);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#exclusive(() => this.#run(sql, params));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#locked(async () => {
      this.#exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#direct);
        this.#exec('COMMIT');
        return result;
      } catch (err) {
        this.#exec('ROLLBACK');
        throw err;
      }
    });
  }

  /** BEGIN IMMEDIATE already excludes every other writer. */
  async prepareMigrations(): Promise<void> {}

  /** Runs a statement with no result (DDL, pragmas) under the lock. */
  exec(sql: string): Promise<void> {
    return this.#exclusive(() => this.#exec(sql));
  }

  /**
   * Copies the WAL into the database file and truncates the WAL to zero bytes, so that
   * page images written before (say) an erasure are gone from the WAL too.
   */
  checkpoint(): Promise<void> {
    return this.#exclusive(() => {
      const row = this.#db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
      if (row && Number(row.busy) !== 0)
        throw new StoreUnavailableError(`${this.description}: WAL checkpoint could not complete (busy)`);
    });
  }

  close(): Promise<void> {
    this.#closed ??= this.#locked(async () => {
      this.#statements.clear();
      if (this.#db.isOpen) this.#db.close();
    });
    return this.#closed;
  }

  /** Runs `work` now when nothing holds the lock (the common case), else after what is queued. */
  #exclusive<T>(work: () => T): Promise<T> {
    if (this.#queued === 0) {
      try {
        return Promise.resolve(work());
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return this.#locked(async () => work());
  }

  #locked<T>(work: () => Promise<T>): Promise<T> {
    this.#queued++;
    const result = this.#tail.then(work);
    this.#tail = result.then(
      () => this.#queued--,
      () => this.#queued--,
    );
    return result;
  }

  #statement(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  #all(sql: string, params: readonly SqlValue[] = []): Row[] {
    try {
      return this.#statement(sql).all(...bind(params));
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  #run(sql: string, params: readonly SqlValue[] = []): number {
    try {
      return Number(this.#statement(sql).run(...bind(params)).changes);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  #exec(sql: string): void {
    try {
      this.#db.exec(sql);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  #wrap(err: unknown, opening = false): Error {
    const code = (err as { errcode?: unknown }).errcode;
    const primary = typeof code === 'number' ? code & 0xff : undefined;
    if (opening || (primary !== undefined && UNAVAILABLE_CODES.has(primary))) {
      const message = err instanceof Error ? err.message : String(err);
      return new StoreUnavailableError(`${this.description}: ${opening ? 'cannot open: ' : ''}${message}`, {
        cause: err,
      });
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}
