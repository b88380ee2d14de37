import type { Logger } from '../observability/index.ts';
import type { Clock } from '../time/index.ts';
import { SqlDeviceRepository } from './devices.ts';
import { SqlErasureRepository } from './erasures.ts';
import type { SqlDriver } from './driver.ts';
import { SqlExperimentRepository } from './experiments.ts';
import { eraseUser, exportUser } from './gdpr.ts';
import { SqlJobRepository } from './jobs.ts';
import { SqlLeaseRepository } from './leases.ts';
import { migrate } from './migrations.ts';
import type { Store } from './port.ts';
import { SqlTemplateRepository } from './templates.ts';
import type { ErasureReport, StoreHealth, UserExport } from './types.ts';
import { SqlConsentRepository, SqlPreferenceRepository } from './users.ts';

/**
 * The `Store` over any `SqlDriver`: the repositories are written once, against the
 * driver's `?`-placeholder SQL and its dialect. `SqliteStore` and `PostgresStore` are
 * this class with their driver (and, for SQLite, the erasure's WAL checkpoint).
 */
export class SqlStore implements Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly devices: SqlDeviceRepository;
  readonly preferences: SqlPreferenceRepository;
  readonly consent: SqlConsentRepository;
  readonly templates: SqlTemplateRepository;
  readonly jobs: SqlJobRepository;
  readonly leases: SqlLeaseRepository;
  readonly experiments: SqlExperimentRepository;
  readonly erasures: SqlErasureRepository;
  protected readonly db: SqlDriver;
  protected readonly clock: Clock;
  #closed: Promise<void> | undefined;

  /** `afterErasure`: run after an erasure receipt is completed (SQLite: checkpoint the WAL so the user id is gone from it). */
  protected constructor(db: SqlDriver, clock: Clock, afterErasure?: () => Promise<void>) {
    this.engine = db.dialect.name;
    this.db = db;
    this.clock = clock;
    this.devices = new SqlDeviceRepository(db, clock);
    this.preferences = new SqlPreferenceRepository(db, clock);
    this.consent = new SqlConsentRepository(db, clock);
    this.templates = new SqlTemplateRepository(db, clock);
    this.jobs = new SqlJobRepository(db, clock);
    this.leases = new SqlLeaseRepository(db, clock);
    this.experiments = new SqlExperimentRepository(db, clock);
    this.erasures = new SqlErasureRepository(db, clock, afterErasure);
  }

  /** Applies pending migrations; on failure closes the driver and rethrows. */
  protected static async migrated<S extends SqlStore>(store: S, logger: Logger): Promise<S> {
    try {
      const applied = await migrate(store.db, store.clock.now());
      if (applied.length) logger.info({ store: store.db.description, applied }, 'store: migrations applied');
      return store;
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
  }

  exportUser(userId: string): Promise<UserExport> {
    return exportUser(
      { db: this.db, devices: this.devices, preferences: this.preferences, consent: this.consent },
      userId,
    );
  }

  eraseUser(userId: string): Promise<ErasureReport> {
    return eraseUser(this.db, userId, this.clock.now());
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.db.get('SELECT 1 AS ok');
      return { ok: true, engine: this.engine, detail: this.db.description };
    } catch (err) {
      return { ok: false, engine: this.engine, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.db.close();
    return this.#closed;
  }
}
