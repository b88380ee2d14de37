import { randomUUID } from 'node:crypto';
import { BackbeatError } from '../errors/index.ts';
import type { Clock } from '../time/index.ts';
import { CounterDeltas, COUNTER_COLUMNS, countersOf } from './counters.ts';
import { chunks, col, marks, type Row, type SqlDriver, type SqlExecutor } from './driver.ts';
import type { JobRepository } from './port.ts';
import {
  SETTLED_STATES,
  type Job,
  type JobBreakdownRow,
  type JobStatus,
  type JsonValue,
  type NewJob,
  type NewRecipient,
  type Outcome,
  type Recipient,
  type RecipientPlatform,
  type RecipientRef,
  type RecipientState,
} from './types.ts';

const JOB_COLUMNS = `id, idempotency_key, request, status, ${COUNTER_COLUMNS}, created_at, updated_at`;
export const RECIPIENT_COLUMNS =
  'job_id, seq, user_id, device_id, platform, variant, state, attempts, not_before, last_error, lease_owner, lease_until';
const INSERT_COLUMNS = 'job_id, seq, user_id, device_id, platform, variant, state, not_before, last_error';
const INSERT_CHUNK = 500;
/** New states that are the result of a send attempt (a retry is `pending` again). */
const ATTEMPTS: ReadonlySet<RecipientState> = new Set(['pending', 'sent', 'delivered', 'failed', 'invalid']);
const SETTLED: ReadonlySet<RecipientState> = new Set(SETTLED_STATES);

export function toJob(r: Row): Job {
  return {
    id: col.str(r['id']),
    idempotencyKey: col.strOrNull(r['idempotency_key']),
    request: col.json<JsonValue>(r['request']),
    status: col.str(r['status']) as JobStatus,
    counters: countersOf(r),
    createdAt: col.num(r['created_at']),
    updatedAt: col.num(r['updated_at']),
  };
}

export function toRecipient(r: Row): Recipient {
  return {
    jobId: col.str(r['job_id']),
    seq: col.num(r['seq']),
    userId: col.str(r['user_id']),
    deviceId: col.strOrNull(r['device_id']),
    platform: col.strOrNull(r['platform']) as RecipientPlatform | null,
    variant: col.strOrNull(r['variant']),
    state: col.str(r['state']) as RecipientState,
    attempts: col.num(r['attempts']),
    notBefore: col.num(r['not_before']),
    lastError: col.strOrNull(r['last_error']),
    leaseOwner: col.strOrNull(r['lease_owner']),
    leaseUntil: col.numOrNull(r['lease_until']),
  };
}

/**
 * Notification jobs and their per-device recipient rows. Counters on the job row (and
 * the breakdown in `job_stats`) change in the same transaction as the recipient rows, so
 * a job's status is one row read however large its audience.
 */
export class SqlJobRepository implements JobRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async create(input: NewJob): Promise<{ job: Job; created: boolean }> {
    const id = input.id ?? randomUUID();
    const key = input.idempotencyKey ?? null;
    const now = this.#clock.now();
    return this.#db.transaction(async (tx) => {
      if (key !== null) {
        const existing = await tx.get(`SELECT ${JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?`, [key]);
        if (existing) return { job: toJob(existing), created: false };
      }
      const inserted = await tx.get(
        `INSERT INTO jobs (id, idempotency_key, request, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
        [id, key, JSON.stringify(input.request), input.status ?? 'queued', now, now],
      );
      if (!inserted) {
        // Another node inserted the same key between our read and our insert (PostgreSQL).
        const row = await tx.get(`SELECT ${JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?`, [key]);
        return { job: toJob(row!), created: false };
      }
      if (input.recipients?.length) await this.#addRecipients(tx, id, input.recipients, now);
      return {
        job: toJob((await tx.get(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]))!),
        created: true,
      };
    });
  }

  async get(id: string): Promise<Job | null> {
    const row = await this.#db.get(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [id]);
    return row ? toJob(row) : null;
  }

  async getByIdempotencyKey(key: string): Promise<Job | null> {
    const row = await this.#db.get(`SELECT ${JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?`, [key]);
    return row ? toJob(row) : null;
  }

  async listByStatus(statuses: readonly JobStatus[], limit = 1000): Promise<Job[]> {
    if (statuses.length === 0) return [];
    const rows = await this.#db.all(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE status IN (${marks(statuses.length)}) ORDER BY created_at, id LIMIT ?`,
      [...statuses, limit],
    );
    return rows.map(toJob);
  }

  async setStatus(id: string, status: JobStatus): Promise<boolean> {
    return (
      (await this.#db.run('UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?', [
        status,
        this.#clock.now(),
        id,
      ])) > 0
    );
  }

  async addRecipients(
    jobId: string,
    recipients: readonly NewRecipient[],
  ): Promise<{ first: number; last: number }> {
    const now = this.#clock.now();
    return this.#db.transaction((tx) => this.#addRecipients(tx, jobId, recipients, now));
  }

  async getRecipient(ref: RecipientRef): Promise<Recipient | null> {
    const row = await this.#db.get(
      `SELECT ${RECIPIENT_COLUMNS} FROM job_recipients WHERE job_id = ? AND seq = ?`,
      [ref.jobId, ref.seq],
    );
    return row ? toRecipient(row) : null;
  }

  async listRecipients(jobId: string, afterSeq = 0, limit = 1000): Promise<Recipient[]> {
    const rows = await this.#db.all(
      `SELECT ${RECIPIENT_COLUMNS} FROM job_recipients WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      [jobId, afterSeq, limit],
    );
    return rows.map(toRecipient);
  }

  async recordOutcome(outcome: Outcome): Promise<boolean> {
    return (await this.recordOutcomes([outcome]))[0]!;
  }

  async recordOutcomes(outcomes: readonly Outcome[]): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    const now = this.#clock.now();
    return this.#db.transaction(async (tx) => {
      const deltas = new CounterDeltas();
      const results: boolean[] = [];
      for (const o of outcomes) results.push(await this.#record(tx, o, now, deltas));
      await deltas.apply(tx, now);
      return results;
    });
  }

  async breakdown(jobId: string): Promise<JobBreakdownRow[]> {
    const rows = await this.#db.all(
      'SELECT platform, variant, state, n FROM job_stats WHERE job_id = ? AND n <> 0 ORDER BY platform, variant, state',
      [jobId],
    );
    return rows.map((r) => ({
      platform: (col.str(r['platform']) || null) as RecipientPlatform | null,
      variant: col.str(r['variant']) || null,
      state: col.str(r['state']) as RecipientState,
      count: col.num(r['n']),
    }));
  }

  async #record(tx: SqlExecutor, o: Outcome, now: number, deltas: CounterDeltas): Promise<boolean> {
    const row = await tx.get(
      `SELECT state, platform, variant, lease_owner, lease_until FROM job_recipients WHERE job_id = ? AND seq = ?${this.#db.dialect.forUpdate}`,
      [o.jobId, o.seq],
    );
    if (!row) return false;
    const from = col.str(row['state']) as RecipientState;
    if (SETTLED.has(from)) return false;
    const owner = col.strOrNull(row['lease_owner']);
    // Fencing: a node whose lease was taken over (it looked dead) may not overwrite the new holder's work.
    if (
      o.nodeId !== undefined &&
      owner !== null &&
      owner !== o.nodeId &&
      (col.numOrNull(row['lease_until']) ?? 0) > now
    )
      return false;
    await tx.run(
      `UPDATE job_recipients SET state = ?, attempts = attempts + ?, not_before = COALESCE(?, not_before), last_error = COALESCE(?, last_error),
        lease_owner = NULL, lease_until = NULL WHERE job_id = ? AND seq = ?`,
      [o.state, ATTEMPTS.has(o.state) ? 1 : 0, o.notBefore ?? null, o.error ?? null, o.jobId, o.seq],
    );
    deltas.moved(
      {
        jobId: o.jobId,
        platform: col.strOrNull(row['platform']) as RecipientPlatform | null,
        variant: col.strOrNull(row['variant']),
        state: o.state,
      },
      from,
    );
    return true;
  }

  async #addRecipients(
    tx: SqlExecutor,
    jobId: string,
    recipients: readonly NewRecipient[],
    now: number,
  ): Promise<{ first: number; last: number }> {
    // The job row lock orders concurrent appends; `total` is the last seq given (rows are never renumbered).
    const job = await tx.get(`SELECT total FROM jobs WHERE id = ?${this.#db.dialect.forUpdate}`, [jobId]);
    if (!job) throw new BackbeatError('NOT_FOUND', `job ${jobId} not found`);
    const first = col.num(job['total']) + 1;
    const deltas = new CounterDeltas();
    let seq = first;
    for (const part of chunks(recipients, INSERT_CHUNK)) {
      const params = part.flatMap((r) => {
        const state = r.state ?? 'pending';
        deltas.added({ jobId, platform: r.platform, variant: r.variant ?? null, state });
        return [
          jobId,
          seq++,
          r.userId,
          r.deviceId,
          r.platform,
          r.variant ?? null,
          state,
          r.notBefore ?? 0,
          r.lastError ?? null,
        ];
      });
      await tx.run(
        `INSERT INTO job_recipients (${INSERT_COLUMNS}) VALUES ${part.map(() => `(${marks(9)})`).join(', ')}`,
        params,
      );
    }
    await deltas.apply(tx, now);
    return { first, last: seq - 1 };
  }
}
