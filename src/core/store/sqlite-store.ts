import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/index.ts';
import { systemClock, type Clock } from '../time/index.ts';
import { StoreUnavailableError } from './errors.ts';
import { SqliteDriver } from './sqlite-driver.ts';
import { SqlStore } from './sql-store.ts';
import type { ErasureReport } from './types.ts';

export interface SqliteStoreOptions {
  /** The directory of the database file (DATA_DIR); created when missing. */
  dir: string;
  /** @default 'store.db' */
  fileName?: string;
  /** @default systemClock */
  clock?: Clock;
  logger: Logger;
}

/**
 * The embedded store: one SQLite file (`<dir>/store.db`) through node:sqlite, WAL with
 * `synchronous=FULL`, `secure_delete=ON`. One writer: this process.
 */
export class SqliteStore extends SqlStore {
  readonly path: string;
  readonly #driver: SqliteDriver;

  private constructor(driver: SqliteDriver, path: string, clock: Clock) {
    super(driver, clock, () => driver.checkpoint());
    this.#driver = driver;
    this.path = path;
  }

  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    const path = join(opts.dir, opts.fileName ?? 'store.db');
    try {
      mkdirSync(opts.dir, { recursive: true });
    } catch (err) {
      throw new StoreUnavailableError(
        `SQLite ${path}: cannot create ${opts.dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return SqlStore.migrated(
      new SqliteStore(new SqliteDriver(path), path, opts.clock ?? systemClock),
      opts.logger,
    );
  }

  /** Erases, then checkpoints the WAL into the file and truncates it: no old page image keeps the id. */
  override async eraseUser(userId: string): Promise<ErasureReport> {
    const report = await super.eraseUser(userId);
    await this.#driver.checkpoint();
    return report;
  }

  /** Checkpoints the WAL into the database file (tests read the file's bytes after it). */
  checkpoint(): Promise<void> {
    return this.#driver.checkpoint();
  }
}
