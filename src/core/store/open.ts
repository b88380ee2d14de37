import type { Logger } from '../observability/index.ts';
import type { Clock } from '../time/index.ts';
import type { Store } from './port.ts';
import { PostgresStore } from './postgres-store.ts';
import { SqliteStore } from './sqlite-store.ts';

export interface OpenStoreOptions {
  /** DATABASE_URL: PostgreSQL when set. */
  databaseUrl?: string | undefined;
  /** DATA_DIR: where the SQLite file lives when `databaseUrl` is not set. */
  dataDir: string;
  logger: Logger;
  /** @default systemClock */
  clock?: Clock;
}

/**
 * Opens the store the configuration asks for (SPEC §1: PostgreSQL when DATABASE_URL is
 * set, else SQLite under DATA_DIR) and brings its schema up to date. Rejects with a
 * `StoreUnavailableError` naming the database when it cannot be reached.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const clock = opts.clock ? { clock: opts.clock } : {};
  if (opts.databaseUrl) return PostgresStore.open({ url: opts.databaseUrl, logger: opts.logger, ...clock });
  return SqliteStore.open({ dir: opts.dataDir, logger: opts.logger, ...clock });
}
