import { join } from 'node:path';
import type { Logger } from '../../core/observability/index.ts';
import { PostgresDriver, SqliteDriver } from '../../core/store/index.ts';
import { SqlKeyStore } from './keys.ts';

export interface KeyStoreConfig {
  /** DATABASE_URL: the keys live in the store's PostgreSQL, shared by every node. */
  databaseUrl?: string | undefined;
  /** DATA_DIR/streaming: the keys live in `keys.db` there otherwise (one node). */
  dir: string;
  logger: Logger;
}

/**
 * The key store of the Kafka log's crypto-shredding: the store's PostgreSQL when
 * DATABASE_URL is set (every node of a cluster must read the same keys), else a SQLite
 * file `keys.db` beside the other stream files under DATA_DIR (secure_delete on; the WAL
 * is checkpointed and truncated after each destruction).
 */
export function openKeyStore(c: KeyStoreConfig): SqlKeyStore {
  if (c.databaseUrl)
    return new SqlKeyStore(new PostgresDriver({ url: c.databaseUrl, logger: c.logger, poolSize: 4 }));
  const driver = new SqliteDriver(join(c.dir, 'keys.db'));
  return new SqlKeyStore(driver, { afterDestroy: () => driver.checkpoint() });
}
