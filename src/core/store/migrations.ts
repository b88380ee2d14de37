/**
 * Versioned schema migrations, applied at open by both engines. Each migration runs once,
 * recorded in `schema_migrations`, inside one transaction with the others pending (both
 * engines have transactional DDL); on PostgreSQL that transaction first takes an
 * advisory lock, so nodes starting at once apply each migration exactly once.
 *
 * To change the schema, append a migration with the next version; never edit one that
 * has shipped. Column types that differ between engines come from the dialect.
 */
import type { Dialect, SqlDriver } from './driver.ts';
import { StoreUnavailableError } from './errors.ts';

export interface Migration {
  version: number;
  name: string;
  statements(d: Dialect): string[];
}

const COUNTERS = [
  'total',
  'pending',
  'held',
  'sent',
  'delivered',
  'failed',
  'skipped',
  'expired',
  'invalid_tokens',
];
const DUE = "state IN ('pending', 'held')";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'push store: devices, preferences, consent, templates, jobs, recipients, experiments',
    statements: ({ types: t }) => [
      // `address` is the APNs/FCM token, or the Web Push endpoint (with its keys beside it).
      `CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        platform TEXT NOT NULL,
        address TEXT NOT NULL,
        p256dh TEXT,
        auth TEXT,
        locale TEXT,
        timezone TEXT,
        topics ${t.json} NOT NULL,
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL,
        UNIQUE (platform, address)
      )`,
      'CREATE INDEX devices_user ON devices (user_id, created_at)',
      // The topic index of devices.topics, for audiences by topic.
      `CREATE TABLE device_topics (
        topic TEXT NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        PRIMARY KEY (topic, device_id)
      )`,
      'CREATE INDEX device_topics_device ON device_topics (device_id)',
      `CREATE TABLE preferences (
        user_id TEXT PRIMARY KEY,
        timezone TEXT,
        locale TEXT,
        quiet_start TEXT,
        quiet_end TEXT,
        opt_out ${t.json} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      `CREATE TABLE consent (
        user_id TEXT PRIMARY KEY,
        analytics ${t.bool} NOT NULL,
        personalization ${t.bool} NOT NULL,
        marketing ${t.bool} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      `CREATE TABLE templates (
        name TEXT PRIMARY KEY,
        default_locale TEXT NOT NULL,
        locales ${t.json} NOT NULL,
        version INTEGER NOT NULL,
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      `CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        idempotency_key TEXT UNIQUE,
        request ${t.json} NOT NULL,
        status TEXT NOT NULL,
        ${COUNTERS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(',\n        ')},
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      'CREATE INDEX jobs_status ON jobs (status, created_at)',
      `CREATE TABLE job_recipients (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        device_id TEXT,
        platform TEXT,
        variant TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before ${t.bigint} NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until ${t.bigint},
        PRIMARY KEY (job_id, seq)
      )`,
      // Partial indexes: only rows still due are in them, however many are settled.
      `CREATE INDEX job_recipients_due ON job_recipients (not_before) WHERE ${DUE}`,
      `CREATE INDEX job_recipients_job_due ON job_recipients (job_id, not_before) WHERE ${DUE}`,
      'CREATE INDEX job_recipients_lease ON job_recipients (lease_owner) WHERE lease_owner IS NOT NULL',
      'CREATE INDEX job_recipients_user ON job_recipients (user_id)',
      // Recipients per (platform, variant, state), kept like the job counters ('' for none).
      `CREATE TABLE job_stats (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        platform TEXT NOT NULL,
        variant TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (job_id, platform, variant, state)
      )`,
      `CREATE TABLE experiment_recipients (
        experiment TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        sent ${t.bool} NOT NULL,
        opened ${t.bool} NOT NULL,
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL,
        PRIMARY KEY (experiment, notification_id)
      )`,
      'CREATE INDEX experiment_recipients_variant ON experiment_recipients (experiment, variant)',
      'CREATE INDEX experiment_recipients_notification ON experiment_recipients (notification_id)',
      'CREATE INDEX experiment_recipients_user ON experiment_recipients (user_id)',
    ],
  },
  {
    version: 2,
    name: 'GDPR erasure receipts',
    statements: ({ types: t }) => [
      // user_id is set while the erasure is pending and NULL once done (NULLs never collide:
      // the UNIQUE makes "one pending erasure per user"); user_hash replaces it then.
      `CREATE TABLE erasures (
        id TEXT PRIMARY KEY,
        user_id TEXT UNIQUE,
        user_hash TEXT,
        status TEXT NOT NULL,
        stores ${t.json} NOT NULL,
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL,
        completed_at ${t.bigint}
      )`,
      'CREATE INDEX erasures_status ON erasures (status, created_at)',
    ],
  },
];

/**
 * Applies the migrations `driver` has not seen yet. Returns the versions applied now
 * (empty when the schema was current). Refuses a database migrated by a newer version.
 */
export async function migrate(
  driver: SqlDriver,
  now: number,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const known = Math.max(0, ...migrations.map((m) => m.version));
  return driver.transaction(async (tx) => {
    await driver.prepareMigrations(tx);
    await tx.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at ${driver.dialect.types.bigint} NOT NULL
    )`);
    const done = new Set(
      (await tx.all('SELECT version FROM schema_migrations')).map((r) => Number(r['version'])),
    );
    const newest = Math.max(0, ...done);
    if (newest > known) {
      throw new StoreUnavailableError(
        `${driver.description}: schema version ${newest} is newer than this Backbeat knows (${known}); upgrade Backbeat`,
      );
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements(driver.dialect)) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        now,
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}
