import type { Clock } from '../time/index.ts';
import { col, type Row, type SqlDriver } from './driver.ts';
import type { ExperimentRepository } from './port.ts';
import type { ExperimentAssignment, ExperimentRecord, VariantResult } from './types.ts';

export const EXPERIMENT_COLUMNS =
  'experiment, notification_id, variant, user_id, sent, opened, created_at, updated_at';

export function toExperimentRecord(r: Row): ExperimentRecord {
  return {
    experiment: col.str(r['experiment']),
    notificationId: col.str(r['notification_id']),
    variant: col.str(r['variant']),
    userId: col.str(r['user_id']),
    sent: col.bool(r['sent']),
    opened: col.bool(r['opened']),
    createdAt: col.num(r['created_at']),
    updatedAt: col.num(r['updated_at']),
  };
}

/** A/B assignments and opens, one row per (experiment, notification). */
export class SqlExperimentRepository implements ExperimentRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async assign(a: ExperimentAssignment): Promise<void> {
    const now = this.#clock.now();
    // A repeated assignment (a resumed job) keeps the first variant; `sent` only ever turns on.
    await this.#db.run(
      `INSERT INTO experiment_recipients (${EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (experiment, notification_id) DO UPDATE SET
          sent = CASE WHEN excluded.sent THEN excluded.sent ELSE experiment_recipients.sent END,
          updated_at = excluded.updated_at`,
      [a.experiment, a.notificationId, a.variant, a.userId, a.sent ?? false, false, now, now],
    );
  }

  async markSent(notificationId: string): Promise<boolean> {
    return (
      (await this.#db.run(
        'UPDATE experiment_recipients SET sent = ?, updated_at = ? WHERE notification_id = ? AND NOT sent',
        [true, this.#clock.now(), notificationId],
      )) > 0
    );
  }

  async markOpened(notificationId: string): Promise<boolean> {
    return (
      (await this.#db.run(
        'UPDATE experiment_recipients SET opened = ?, updated_at = ? WHERE notification_id = ? AND NOT opened',
        [true, this.#clock.now(), notificationId],
      )) > 0
    );
  }

  async results(experiment: string): Promise<VariantResult[]> {
    const rows = await this.#db.all(
      `SELECT variant, COUNT(*) AS recipients,
          SUM(CASE WHEN sent THEN 1 ELSE 0 END) AS sent,
          SUM(CASE WHEN opened THEN 1 ELSE 0 END) AS opened
        FROM experiment_recipients WHERE experiment = ? GROUP BY variant ORDER BY variant`,
      [experiment],
    );
    return rows.map((r) => ({
      variant: col.str(r['variant']),
      recipients: col.num(r['recipients']),
      sent: col.num(r['sent']),
      opened: col.num(r['opened']),
    }));
  }
}
