export type {
  ClaimRequest,
  ConsentRepository,
  DeviceRepository,
  ErasureRepository,
  ExperimentRepository,
  JobRepository,
  LeaseRepository,
  PreferenceRepository,
  Store,
  TemplateRepository,
} from './port.ts';
export * from './types.ts';
export { StoreUnavailableError, describeDatabase } from './errors.ts';
export { MIGRATIONS, migrate, type Migration } from './migrations.ts';
export type { Dialect, SqlDriver, SqlExecutor, SqlValue } from './driver.ts';
export { SqlStore } from './sql-store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
export { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
export { openStore, type OpenStoreOptions } from './open.ts';
/** The drivers, for other capabilities' own small tables (the event stream's key store) on the same engines. */
export { SqliteDriver } from './sqlite-driver.ts';
export { PostgresDriver, type PostgresDriverOptions } from './postgres-driver.ts';
export { withoutUser } from './gdpr.ts';
export { erasureHashMatches } from './erasures.ts';
