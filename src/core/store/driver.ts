/**
 * The seam between the repositories (one set of SQL, `?` placeholders) and an engine.
 * A driver runs statements and transactions; its `Dialect` supplies the few pieces of SQL
 * that differ (column types, row locks). Rows come back as plain objects whose values the
 * `col` helpers below normalize (PostgreSQL returns BIGINT as strings and JSONB parsed,
 * SQLite returns integers for booleans and text for JSON).
 */

export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

export interface SqlExecutor {
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** Column types. */
  readonly types: { bigint: string; bool: string; json: string };
  /** Appended to a SELECT that reads rows it will then update (PostgreSQL row locks). */
  readonly forUpdate: string;
  /** Appended to the SELECT that picks rows to claim: rows another transaction holds are skipped. */
  readonly skipLocked: string;
  /** A JSON column as text (for LIKE). */
  jsonText(column: string): string;
  /** Most parameters one statement may carry (chunks of IN lists and multi-row inserts stay under it). */
  readonly maxParams: number;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction (committed when it resolves, rolled back when it
   * rejects). `fn` must use the executor it is given, never the driver. It may run again
   * when the engine asks for a retry (serialization failure, deadlock), so it does nothing
   * but SQL.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Names the database for messages (a path, or a URL without password). */
  readonly description: string;
  /**
   * Called first inside the migration transaction: makes it exclusive among nodes that
   * start at once (PostgreSQL: an advisory lock) and creates what the tables live in.
   */
  prepareMigrations(tx: SqlExecutor): Promise<void>;
  close(): Promise<void>;
}

/** Row value converters. */
export const col = {
  str(v: unknown): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    throw new TypeError(`expected a string column, got ${typeof v}`);
  },
  strOrNull(v: unknown): string | null {
    return v === null || v === undefined ? null : col.str(v);
  },
  num(v: unknown): number {
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(n)) throw new TypeError(`expected a numeric column, got ${String(v)}`);
    return n;
  },
  numOrNull(v: unknown): number | null {
    return v === null || v === undefined ? null : col.num(v);
  },
  bool(v: unknown): boolean {
    return v === true || v === 1 || v === '1' || v === 't' || v === 'true';
  },
  json<T>(v: unknown): T {
    return (typeof v === 'string' ? JSON.parse(v) : v) as T;
  },
};

/** `?, ?, ?` for n parameters. */
export const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** Splits `items` into chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A LIKE pattern matching `text` anywhere, with `\` as the escape character. */
export const likeAnywhere = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Clamps a page size to 1…10,000 (default 1,000). */
export const pageLimit = (limit: number | undefined): number =>
  Math.max(1, Math.min(10_000, Math.floor(limit ?? 1000)));
