/**
 * The Store engines the contract suite runs against (test/contract/store.contract.test.ts).
 * A factory makes an isolated "space" (a temp directory for SQLite; a fresh schema
 * `bbt_<hex>` in TEST_DATABASE_URL for PostgreSQL, dropped at dispose) in which `open`
 * may be called several times: a restart, or a second node sharing the database.
 * Add an engine here as one more entry; the suite does not change.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { createLogger } from '../../src/core/observability/index.ts';
import { PostgresStore, SqliteStore, type Store } from '../../src/core/store/index.ts';
import type { Clock } from '../../src/core/time/index.ts';

export interface StoreSpace {
  /** Opens a store on this space's database (again: a restart, or another node). */
  open(clock: Clock): Promise<Store>;
  /** Runs raw SQL on the space's database, outside the store (checks on what the port hides). */
  query(sql: string): Promise<Array<Record<string, unknown>>>;
  /** PostgreSQL: a DATABASE_URL that reaches this space's schema (through `options=-c search_path=…`). */
  url?: string;
  /** Closes what `open` returned and removes the space. */
  dispose(): Promise<void>;
}

export interface StoreFactory {
  name: 'sqlite' | 'postgres';
  /** Whether several nodes may open the store at the same moment (SQLite: one process per file). */
  sharedByNodes: boolean;
  space(): Promise<StoreSpace>;
}

const logger = createLogger(process.env.LOG_LEVEL ?? 'silent');

export function databaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url)
    throw new Error(
      'TEST_DATABASE_URL is not set: start PostgreSQL with `source scripts/lib/ensure.sh; ensure_postgres` (scripts/test.sh does)',
    );
  return url;
}

const sqlite: StoreFactory = {
  name: 'sqlite',
  sharedByNodes: false,
  async space() {
    const dir = mkdtempSync(join(tmpdir(), 'bb-store-'));
    const opened: Store[] = [];
    return {
      async open(clock) {
        const s = await SqliteStore.open({ dir, clock, logger });
        opened.push(s);
        return s;
      },
      async query(sql) {
        const db = new DatabaseSync(join(dir, 'store.db'));
        try {
          return db.prepare(sql).all();
        } finally {
          db.close();
        }
      },
      async dispose() {
        await Promise.all(opened.map((s) => s.close()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: StoreFactory = {
  name: 'postgres',
  sharedByNodes: true,
  async space() {
    const url = databaseUrl();
    const schema = `bbt_${randomBytes(6).toString('hex')}`;
    const opened: Store[] = [];
    const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
      const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await c.connect();
      try {
        return await fn(c);
      } finally {
        await c.end();
      }
    };
    return {
      url: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      async open(clock) {
        const s = await PostgresStore.open({ url, schema, clock, logger, poolSize: 4 });
        opened.push(s);
        return s;
      },
      query: (sql) => admin(async (c) => (await c.query(sql)).rows as Array<Record<string, unknown>>),
      async dispose() {
        await Promise.all(opened.map((s) => s.close()));
        await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      },
    };
  },
};

export const storeFactories: StoreFactory[] = [sqlite, postgres];
