/**
 * GDPR over the store (SPEC §7): everything held about one user, and its erasure in one
 * transaction. The user's id can also sit inside job requests (`userIds`); export lists
 * those jobs and erasure rewrites their requests without it.
 */
import { CounterDeltas } from './counters.ts';
import { col, likeAnywhere, type SqlDriver, type SqlExecutor } from './driver.ts';
import { EXPERIMENT_COLUMNS, toExperimentRecord } from './experiments.ts';
import { RECIPIENT_COLUMNS, toJob, toRecipient } from './jobs.ts';
import type { DeviceRepository, PreferenceRepository, ConsentRepository } from './port.ts';
import type {
  ErasureReport,
  Job,
  JsonValue,
  RecipientPlatform,
  RecipientState,
  UserExport,
} from './types.ts';

/** `value` without `userId`: array items and object members equal to it dropped, keys equal to it too. */
export function withoutUser(value: JsonValue, userId: string): JsonValue {
  if (value === userId) return null;
  if (Array.isArray(value)) return value.filter((v) => v !== userId).map((v) => withoutUser(v, userId));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value))
      if (k !== userId && v !== userId) out[k] = withoutUser(v, userId);
    return out;
  }
  return value;
}

export interface GdprDeps {
  db: SqlDriver;
  devices: DeviceRepository;
  preferences: PreferenceRepository;
  consent: ConsentRepository;
}

/** Jobs whose request mentions the user: a LIKE on the JSON text narrows, the parsed JSON decides. */
async function jobsNaming(tx: SqlExecutor, db: SqlDriver, userId: string): Promise<Job[]> {
  const rows = await tx.all(
    `SELECT * FROM jobs WHERE ${db.dialect.jsonText('request')} LIKE ? ESCAPE '\\' ORDER BY created_at, id`,
    [likeAnywhere(JSON.stringify(userId))],
  );
  return rows
    .map(toJob)
    .filter((j) => JSON.stringify(withoutUser(j.request, userId)) !== JSON.stringify(j.request));
}

export async function exportUser(deps: GdprDeps, userId: string): Promise<UserExport> {
  const { db } = deps;
  const [devices, preferences, consent] = await Promise.all([
    deps.devices.listByUserForSending(userId),
    deps.preferences.get(userId),
    deps.consent.get(userId),
  ]);
  const recipients = (
    await db.all(`SELECT ${RECIPIENT_COLUMNS} FROM job_recipients WHERE user_id = ? ORDER BY job_id, seq`, [
      userId,
    ])
  ).map(toRecipient);
  const experiments = (
    await db.all(
      `SELECT ${EXPERIMENT_COLUMNS} FROM experiment_recipients WHERE user_id = ? ORDER BY experiment, notification_id`,
      [userId],
    )
  ).map(toExperimentRecord);
  const jobs = await jobsNaming(db, db, userId);
  return { userId, devices, preferences, consent, recipients, experiments, jobs };
}

export async function eraseUser(db: SqlDriver, userId: string, now: number): Promise<ErasureReport> {
  return db.transaction(async (tx) => {
    // Recipients still due will never be sent: count them as skipped so their jobs can finish.
    const due = await tx.all(
      `SELECT job_id, platform, variant, state FROM job_recipients WHERE user_id = ? AND state IN ('pending', 'held') ORDER BY job_id, seq${db.dialect.forUpdate}`,
      [userId],
    );
    const deltas = new CounterDeltas();
    for (const r of due) {
      const counted = {
        jobId: col.str(r['job_id']),
        platform: col.strOrNull(r['platform']) as RecipientPlatform | null,
        variant: col.strOrNull(r['variant']),
      };
      deltas.moved({ ...counted, state: 'skipped' }, col.str(r['state']) as RecipientState);
    }
    await deltas.apply(tx, now);
    const report: ErasureReport = {
      recipients: await tx.run('DELETE FROM job_recipients WHERE user_id = ?', [userId]),
      experiments: await tx.run('DELETE FROM experiment_recipients WHERE user_id = ?', [userId]),
      devices: await tx.run('DELETE FROM devices WHERE user_id = ?', [userId]),
      preferences: await tx.run('DELETE FROM preferences WHERE user_id = ?', [userId]),
      consent: await tx.run('DELETE FROM consent WHERE user_id = ?', [userId]),
      jobs: 0,
    };
    for (const job of await jobsNaming(tx, db, userId)) {
      await tx.run('UPDATE jobs SET request = ?, updated_at = ? WHERE id = ?', [
        JSON.stringify(withoutUser(job.request, userId)),
        now,
        job.id,
      ]);
      report.jobs++;
    }
    return report;
  });
}
