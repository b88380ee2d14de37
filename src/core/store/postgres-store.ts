import type { Logger } from '../observability/index.ts';
import { systemClock, type Clock } from '../time/index.ts';
import { PostgresDriver } from './postgres-driver.ts';
import { SqlStore } from './sql-store.ts';

export interface PostgresStoreOptions {
  /** DATABASE_URL: `postgres://user:password@host:port/database` */
  url: string;
  /** Tables live in this schema, created when missing. @default the server's search_path (public) */
  schema?: string;
  /** @default 10 */
  poolSize?: number;
  /** @default 10_000 */
  connectTimeoutMs?: number;
  /** @default systemClock */
  clock?: Clock;
  logger: Logger;
}

/**
 * The cluster store: PostgreSQL through a `pg` pool, shared by every node. Migrations
 * run under an advisory lock; recipient claims use `FOR UPDATE SKIP LOCKED`.
 */
export class PostgresStore extends SqlStore {
  private constructor(driver: PostgresDriver, clock: Clock) {
    super(driver, clock);
  }

  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const driver = new PostgresDriver({
      url: opts.url,
      logger: opts.logger,
      ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
      ...(opts.poolSize !== undefined ? { poolSize: opts.poolSize } : {}),
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    });
    return SqlStore.migrated(new PostgresStore(driver, opts.clock ?? systemClock), opts.logger);
  }
}
