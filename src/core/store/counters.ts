/**
 * Changes to job counters (`jobs.total`, one column per recipient state) and to the
 * per-(platform, variant, state) breakdown (`job_stats`), gathered while a transaction
 * changes recipient rows and written at its end: one UPDATE per job, one upsert per
 * breakdown cell. Jobs are written in id order, so concurrent transactions lock job rows
 * in the same order.
 */
import type { SqlExecutor } from './driver.ts';
import type { JobCounters, RecipientPlatform, RecipientState } from './types.ts';

/** The jobs column counting each state. */
export const COUNTER_COLUMN: Record<RecipientState, string> = {
  pending: 'pending',
  held: 'held',
  sent: 'sent',
  delivered: 'delivered',
  failed: 'failed',
  skipped: 'skipped',
  expired: 'expired',
  invalid: 'invalid_tokens',
};

const STATES = Object.keys(COUNTER_COLUMN) as RecipientState[];

export const COUNTER_COLUMNS = `total, ${STATES.map((s) => COUNTER_COLUMN[s]).join(', ')}`;

const UPDATE_JOB = `UPDATE jobs SET total = total + ?, ${STATES.map((s) => `${COUNTER_COLUMN[s]} = ${COUNTER_COLUMN[s]} + ?`).join(', ')}, updated_at = ? WHERE id = ?`;

const UPSERT_STAT = `INSERT INTO job_stats (job_id, platform, variant, state, n) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (job_id, platform, variant, state) DO UPDATE SET n = job_stats.n + excluded.n`;

interface JobDelta {
  total: number;
  states: Map<RecipientState, number>;
  /** key: platform \0 variant \0 state */
  cells: Map<string, number>;
}

/** Where a recipient is counted: its job, platform, variant and state. */
export interface CountedRecipient {
  jobId: string;
  platform: RecipientPlatform | null;
  variant: string | null;
  state: RecipientState;
}

export class CounterDeltas {
  readonly #jobs = new Map<string, JobDelta>();

  /** A new recipient row. */
  added(r: CountedRecipient): void {
    const d = this.#job(r.jobId);
    d.total++;
    this.#count(d, r, +1);
  }

  /** A recipient moved from `from` to `r.state`. */
  moved(r: CountedRecipient, from: RecipientState): void {
    if (from === r.state) return;
    const d = this.#job(r.jobId);
    this.#count(d, { ...r, state: from }, -1);
    this.#count(d, r, +1);
  }

  async apply(tx: SqlExecutor, now: number): Promise<void> {
    for (const jobId of [...this.#jobs.keys()].sort()) {
      const d = this.#jobs.get(jobId)!;
      const states = STATES.map((s) => d.states.get(s) ?? 0);
      if (d.total === 0 && states.every((n) => n === 0)) continue;
      await tx.run(UPDATE_JOB, [d.total, ...states, now, jobId]);
      for (const key of [...d.cells.keys()].sort()) {
        const n = d.cells.get(key)!;
        if (n === 0) continue;
        const [platform, variant, state] = key.split('\0') as [string, string, string];
        await tx.run(UPSERT_STAT, [jobId, platform, variant, state, n]);
      }
    }
  }

  #job(jobId: string): JobDelta {
    let d = this.#jobs.get(jobId);
    if (!d) this.#jobs.set(jobId, (d = { total: 0, states: new Map(), cells: new Map() }));
    return d;
  }

  #count(d: JobDelta, r: CountedRecipient, by: number): void {
    d.states.set(r.state, (d.states.get(r.state) ?? 0) + by);
    const key = `${r.platform ?? ''}\0${r.variant ?? ''}\0${r.state}`;
    d.cells.set(key, (d.cells.get(key) ?? 0) + by);
  }
}

/** Reads the counter columns of a jobs row. */
export function countersOf(row: Record<string, unknown>): JobCounters {
  const n = (c: string) => Number(row[c] ?? 0);
  return {
    total: n('total'),
    pending: n('pending'),
    held: n('held'),
    sent: n('sent'),
    delivered: n('delivered'),
    failed: n('failed'),
    skipped: n('skipped'),
    expired: n('expired'),
    invalidTokens: n('invalid_tokens'),
  };
}
