import type { Pool, PoolClient, QueryConfig } from 'pg';
import { lazyModule } from '../modules/index.ts';

/** pg, loaded when a PostgreSQL store is first opened (not with the embedded SQLite store). */
const pg = lazyModule<typeof import('pg')>('pg');
import type { Logger } from '../observability/index.ts';
import type { Dialect, Row, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';
import { describeDatabase, scrubMessage, StoreUnavailableError } from './errors.ts';

export const postgresDialect: Dialect = {
  name: 'postgres',
  types: { bigint: 'BIGINT', bool: 'BOOLEAN', json: 'JSONB' },
  forUpdate: ' FOR UPDATE',
  skipLocked: ' FOR UPDATE SKIP LOCKED',
  jsonText: (column) => `${column}::text`,
  maxParams: 60_000,
};

export interface PostgresDriverOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Tables live in this schema (created when missing); @default the server's search_path (public) */
  schema?: string;
  /** @default 10 */
  poolSize?: number;
  /** @default 10_000 */
  connectTimeoutMs?: number;
  logger: Logger;
}

/** SQLSTATE classes and codes meaning "the database is not reachable or not usable". */
const UNAVAILABLE_SQLSTATE = /^(08|28|53|57P0[123]|3D000)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'EPIPE',
]);
/** Serialization failure, deadlock: the transaction may simply be run again. */
const RETRY_SQLSTATE = new Set(['40001', '40P01']);
const TX_ATTEMPTS = 3;
/** Distinct statements given a server-side prepared name (bounded: IN lists vary in length). */
const NAMED_STATEMENTS = 300;
/** Arbitrary first half of the migration advisory lock key ("BB"). */
const MIGRATION_LOCK_CLASS = 0x4242;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * `pg` Pool behind the `SqlDriver` seam. The repositories' `?` placeholders become `$n`
 * (once per distinct statement, then cached together with a prepared-statement name, so
 * the server parses each statement once per connection).
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = postgresDialect;
  readonly description: string;
  readonly #pool: Pool;
  readonly #schema: string | undefined;
  readonly #password: string | undefined;
  readonly #converted = new Map<string, { text: string; name: string | undefined }>();
  #closed: Promise<void> | undefined;

  constructor(opts: PostgresDriverOptions) {
    this.description = `PostgreSQL ${describeDatabase(opts.url)}`;
    if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
      throw new TypeError(`store schema must match ${SCHEMA_NAME.source}, got "${opts.schema}"`);
    }
    this.#schema = opts.schema;
    this.#password = passwordOf(opts.url);
    this.#pool = new (pg().Pool)({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      application_name: 'backbeat',
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // An idle client losing its connection must not crash the process; the next query reports it.
    this.#pool.on('error', (err) =>
      opts.logger.warn(
        { store: this.description, err: scrubMessage(err, this.#password) },
        'store: idle PostgreSQL connection failed',
      ),
    );
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#query(this.#pool, sql, params).then((r) => r.rows);
  }

  get(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.#query(this.#pool, sql, params).then((r) => r.rows[0]);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#query(this.#pool, sql, params).then((r) => r.rowCount ?? 0);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect();
      const tx: SqlExecutor = {
        all: (sql, params) => this.#query(client, sql, params).then((r) => r.rows),
        get: (sql, params) => this.#query(client, sql, params).then((r) => r.rows[0]),
        run: (sql, params) => this.#query(client, sql, params).then((r) => r.rowCount ?? 0),
      };
      let broken: Error | undefined;
      try {
        await this.#query(client, 'BEGIN');
        const result = await fn(tx);
        await this.#query(client, 'COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        const state = (err as { code?: unknown }).code;
        if (attempt < TX_ATTEMPTS && typeof state === 'string' && RETRY_SQLSTATE.has(state)) continue;
        throw err;
      } finally {
        // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
        client.release(broken);
      }
    }
  }

  async prepareMigrations(tx: SqlExecutor): Promise<void> {
    await tx.get('SELECT pg_advisory_xact_lock(?, hashtext(?))', [
      MIGRATION_LOCK_CLASS,
      this.#schema ?? 'public',
    ]);
    if (this.#schema) await tx.run(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }

  async #connect(): Promise<PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async #query(
    on: Pool | PoolClient,
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<{ rows: Row[]; rowCount: number | null }> {
    const { text, name } = this.#convert(sql);
    const config: QueryConfig = { text, values: params as SqlValue[] };
    if (name) config.name = name;
    try {
      return await on.query<Row>(config);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  #convert(sql: string): { text: string; name: string | undefined } {
    let c = this.#converted.get(sql);
    if (!c) {
      const named = this.#converted.size < NAMED_STATEMENTS && sql !== 'BEGIN' && sql !== 'COMMIT';
      c = { text: toNumberedParams(sql), name: named ? `bb_${this.#converted.size}` : undefined };
      this.#converted.set(sql, c);
    }
    return c;
  }

  #wrap(err: unknown): Error {
    const code = (err as { code?: unknown }).code;
    const message = scrubMessage(err, this.#password);
    const unavailable =
      (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) ||
      /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
        message,
      );
    if (unavailable) return new StoreUnavailableError(`${this.description}: ${message}`, { cause: err });
    return err instanceof Error ? err : new Error(message);
  }
}

function passwordOf(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

/** `?` → `$1, $2, …`, leaving `?` inside quoted strings and identifiers alone. */
export function toNumberedParams(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}
